"""Strategy selection: the port the RL agents will implement, and the rule-based default.

Rule table of :class:`RegimeRuleSelector` (symbol regime → strategy):

=========  ==============  ===========================================
regime     strategy        why
=========  ==============  ===========================================
BULL       TrendFollowing  ride the trend with the signal
BEAR       TrendFollowing  ride the trend (short) with the signal
SIDEWAYS   MeanReversion   fade stretched moves inside a range
VOLATILE   Breakout        trade only decisive moves out of the channel
(none)     Neutral         no regime yet (warm-up): stand aside
=========  ==============  ===========================================

In CONSERVATIVE risk mode a VOLATILE regime selects Neutral instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.risk import TradingState
from quantum_trader.status.registry import ModuleHandle
from quantum_trader.strategy.regime import Regime

TREND_FOLLOWING = "TrendFollowing"
MEAN_REVERSION = "MeanReversion"
BREAKOUT = "Breakout"
NEUTRAL = "Neutral"
STRATEGY_NAMES = (TREND_FOLLOWING, MEAN_REVERSION, BREAKOUT, NEUTRAL)
#: long the universe's strongest, short its weakest (issue 24): only a fixed selector names it;
#: the rules and the learning agents (whose actions are :data:`STRATEGY_NAMES`) do not
CROSS_SECTIONAL = "CrossSectional"
FIXED_STRATEGIES = (*STRATEGY_NAMES, CROSS_SECTIONAL)


@dataclass(frozen=True, slots=True)
class SelectionContext:
    """What a selector sees (the RL agents' state: regime, volatility, confidence, PnL).

    The fields after ``risk_mode`` are what a learned selector reads besides (issue 18), all
    known at the decision: the risk engine's trading state, the account's equity after this
    candle's marks, this symbol's signed position notional at the mark as a fraction of that
    equity, and the drawdown from the peak equity (0 at a peak). Their defaults describe an
    ACTIVE, flat account at its peak, for callers that have no account.
    """

    symbol: str
    time: int
    regime: Regime | None
    market_regime: Regime | None
    vol_percentile: float
    confidence: float
    recent_pnl: float  # the account's PnL since the start of the UTC day (account currency)
    risk_mode: RiskMode
    #: the risk engine's trading state at the decision: a learned selector masks its actions
    #: to Neutral while HALTED (defaulted, so that a context built without it reads ACTIVE)
    trading_state: TradingState = TradingState.ACTIVE
    equity: float = 0.0
    position: float = 0.0
    drawdown: float = 0.0


@dataclass(frozen=True, slots=True)
class StrategyChoice:
    strategy: str
    reason: str
    selector: str


class StrategySelector(Protocol):
    """Chooses one of :data:`STRATEGY_NAMES` per symbol and decision."""

    name: str

    def select(self, context: SelectionContext) -> StrategyChoice: ...


DEFAULT_RULES: Mapping[Regime | None, str] = {
    Regime.BULL: TREND_FOLLOWING,
    Regime.BEAR: TREND_FOLLOWING,
    Regime.SIDEWAYS: MEAN_REVERSION,
    Regime.VOLATILE: BREAKOUT,
    None: NEUTRAL,
}


@dataclass
class RegimeRuleSelector:
    """The default selector: a fixed table from regime to strategy.

    >>> sel = RegimeRuleSelector()
    >>> ctx = SelectionContext("BTCUSDT", 0, Regime.SIDEWAYS, None, 0.5, 0.6, 0.0, RiskMode.MODERATE)
    >>> sel.select(ctx).strategy
    'MeanReversion'
    """

    rules: Mapping[Regime | None, str] = field(default_factory=lambda: dict(DEFAULT_RULES))
    handle: ModuleHandle | None = None
    name: str = "regime_rules"

    def __post_init__(self) -> None:
        unknown = {s for s in self.rules.values() if s not in STRATEGY_NAMES}
        if unknown:
            raise ValueError(f"RegimeRuleSelector.rules names unknown strategies {sorted(unknown)}")
        missing = [r for r in (*Regime, None) if r not in self.rules]
        if missing:
            raise ValueError(f"RegimeRuleSelector.rules lacks regimes {missing}")

    def select(self, context: SelectionContext) -> StrategyChoice:
        regime = context.regime
        strategy = self.rules[regime]
        reason = f"regime {regime or 'unknown'} → {strategy}"
        if regime is Regime.VOLATILE and context.risk_mode is RiskMode.CONSERVATIVE:
            strategy, reason = NEUTRAL, "VOLATILE regime in CONSERVATIVE mode → Neutral"
        if self.handle is not None:
            self.handle.count(f"selected_{strategy}")
        return StrategyChoice(strategy, reason, self.name)


@dataclass
class FixedSelector:
    """Always the same strategy: the "each strategy alone" baselines of the system evaluation,
    and Neutral (never trade) as the do-nothing baseline.

    >>> ctx = SelectionContext("BTCUSDT", 0, Regime.BULL, None, 0.5, 0.6, 0.0, RiskMode.MODERATE)
    >>> FixedSelector(MEAN_REVERSION).select(ctx).strategy
    'MeanReversion'
    """

    strategy: str
    handle: ModuleHandle | None = None
    name: str = field(init=False)

    def __post_init__(self) -> None:
        if self.strategy not in FIXED_STRATEGIES:
            raise ValueError(
                f"FixedSelector: unknown strategy {self.strategy!r}; known {list(FIXED_STRATEGIES)}"
            )
        self.name = f"fixed:{self.strategy}"

    def select(self, context: SelectionContext) -> StrategyChoice:
        if self.handle is not None:
            self.handle.count(f"selected_{self.strategy}")
        return StrategyChoice(self.strategy, f"fixed → {self.strategy}", self.name)


@dataclass
class RandomSelector:
    """A seeded uniform draw among the trading strategies (Neutral included) per decision: the
    baseline a learned selector must beat. The draw depends on the seed and the decision's
    symbol and time only, so a replay gives the same choices whatever else it computes.

    >>> ctx = SelectionContext("BTCUSDT", 3_600_000, None, None, 0.5, 0.6, 0.0, RiskMode.MODERATE)
    >>> RandomSelector(seed=1).select(ctx) == RandomSelector(seed=1).select(ctx)
    True
    """

    seed: int = 0
    handle: ModuleHandle | None = None
    name: str = "random"

    def select(self, context: SelectionContext) -> StrategyChoice:
        key = f"{self.seed}:{context.symbol}:{context.time}".encode()
        draw = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
        strategy = STRATEGY_NAMES[draw % len(STRATEGY_NAMES)]
        if self.handle is not None:
            self.handle.count(f"selected_{strategy}")
        return StrategyChoice(strategy, f"random draw (seed {self.seed}) → {strategy}", self.name)


def selector_names() -> tuple[str, ...]:
    """Every selector a setting may name: the rules, the random baseline, one fixed per
    strategy."""
    return ("regime_rules", "random", *(f"fixed:{s}" for s in FIXED_STRATEGIES))
