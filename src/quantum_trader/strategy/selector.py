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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from quantum_trader.domain.policy import RiskMode
from quantum_trader.status.registry import ModuleHandle
from quantum_trader.strategy.regime import Regime

TREND_FOLLOWING = "TrendFollowing"
MEAN_REVERSION = "MeanReversion"
BREAKOUT = "Breakout"
NEUTRAL = "Neutral"
STRATEGY_NAMES = (TREND_FOLLOWING, MEAN_REVERSION, BREAKOUT, NEUTRAL)


@dataclass(frozen=True, slots=True)
class SelectionContext:
    """What a selector sees (the RL agents' state: regime, volatility, confidence, PnL)."""

    symbol: str
    time: int
    regime: Regime | None
    market_regime: Regime | None
    vol_percentile: float
    confidence: float
    recent_pnl: float
    risk_mode: RiskMode


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
