"""A run's off-policy evidence: an exploring selector's choices, what other selectors would have
chosen at the same contexts, and what each is estimated to earn per choice (issue 18, deliver 5
and 6; the estimators are ``evaluation/offpolicy.py``'s).

**Why the exploring selector's log.** The Q-learner draws epsilon-greedy and knows each
strategy's probability before it draws (``QLearningSelector.probabilities``), so every strategy
has a positive probability at every choice: its shadow account is the run's one log from which
other selectors can be judged by inverse propensity. The PPO selector is served greedy and the
rule selector is deterministic: their own logs support only targets that agree with them
(``evaluation/offpolicy.py``, *Limits*).

**A row** is one choice of the exploring selector while the symbol is flat (while a position is
held the opener keeps it: that selection is no choice, and is left out). Its reward is the net
return of the trade the choice opened (``trade_reward``: net PnL over entry notional, fees and
funding included), 0 if it opened none: the Q-learner's own credit assignment. Its features, for
the doubly robust estimate's reward model, are the PPO selector's observation of the context.

**A target** answers, for the same context, which strategy it would choose, without side
effects (``PolicySelector.decide``; the rule selector is pure). It is deterministic here: its
probabilities are one-hot.

**What the estimates assume.** A contextual bandit: another choice at a row would have changed
that row's reward only, not the account's later positions, equity or drawdown (which later
contexts read) and not whether the next candles were flat. So each estimate is the target's
value *per choice at the contexts the exploring account visited*, not the equity curve it would
have traded; its shadow account (``decision/shadow.py``) measures that one. With epsilon at
0.02-0.1 over four strategies, a strategy the learner does not favour is drawn with probability
0.005-0.025: a target that disagrees with the learner rests on few rows with weights of 40-200,
which its effective sample size says.

>>> from quantum_trader.domain.market import Regime
>>> from quantum_trader.domain.policy import RiskMode
>>> from quantum_trader.strategy.selector import SelectionContext
>>> class Coin:  # draws Breakout and Neutral at 1/2 each, holds nothing
...     name = "coin"
...     def probabilities(self, context): return {"Breakout": 0.5, "Neutral": 0.5}
...     def holding(self, symbol): return None
...     def select(self, context):
...         return StrategyChoice("Breakout" if context.time % 2 else "Neutral", "", "coin")
>>> log = ExploringLog(Coin(), encoder=lambda context: [1.0])
>>> log.add_target("breakout", lambda context: "Breakout")
>>> for t in range(4):
...     _ = log.select(SelectionContext("BTC", t, Regime.BULL, None, 0.5, 0.1, 0, RiskMode.MODERATE))
>>> len(log.rows), log.rows[1].strategy, log.rows[1].targets
(4, 'Breakout', ('Breakout',))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from quantum_trader.agents.observation import selector_observation
from quantum_trader.agents.qlearning import trade_reward
from quantum_trader.domain.positions import Trade
from quantum_trader.evaluation.offpolicy import (
    BootstrapSettings,
    DecisionLog,
    OffPolicyEstimate,
    doubly_robust,
    ips,
    one_hot_policy,
    snips,
)
from quantum_trader.evaluation.reward_model import cross_fitted_rewards
from quantum_trader.strategy.selector import STRATEGY_NAMES, SelectionContext, StrategyChoice

#: a target: the strategy it would choose at a context (no side effects)
Target = Callable[[SelectionContext], str]
#: the rows a doubly robust estimate needs at least (its reward model is cross-fitted in folds)
DR_MIN_ROWS = 20
#: the reward model's folds
DR_FOLDS = 5


class ExploringSelector(Protocol):
    """A selector that knows its choices' probabilities before it draws."""

    name: str

    def select(self, context: SelectionContext) -> StrategyChoice: ...

    def probabilities(self, context: SelectionContext) -> Mapping[str, float]: ...

    def holding(self, symbol: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ExploringRow:
    """One choice: the strategy drawn, its probability, the features, each target's strategy
    (in :attr:`ExploringLog.targets` order)."""

    symbol: str
    time: int
    strategy: str
    propensity: float
    features: tuple[float, ...]
    targets: tuple[str, ...]


class ExploringLog:
    """A :class:`~quantum_trader.strategy.selector.StrategySelector` that is ``selector`` and
    logs each of its choices with the targets' answers at the same context."""

    def __init__(
        self,
        selector: ExploringSelector,
        *,
        encoder: Callable[[SelectionContext], Sequence[float] | npt.NDArray[Any]] = (
            selector_observation
        ),
    ) -> None:
        self.selector = selector
        self.name = selector.name
        self._encoder = encoder
        self._targets: dict[str, Target] = {}
        self._rows: dict[tuple[str, int], ExploringRow] = {}

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self._targets)

    @property
    def rows(self) -> list[ExploringRow]:
        """The logged choices in time order (symbols in name order within a candle)."""
        return sorted(self._rows.values(), key=lambda r: (r.time, r.symbol))

    def add_target(self, name: str, target: Target) -> None:
        """Ask ``target`` at every choice from now on; refused once a choice is logged (every
        row must hold every target's answer) and for a name already used."""
        if self._rows:
            raise ValueError(f"ExploringLog: target {name!r} added after {len(self._rows)} rows")
        if name in self._targets or name == self.name:
            raise ValueError(f"ExploringLog: a target named {name!r} is already there")
        self._targets[name] = target

    def select(self, context: SelectionContext) -> StrategyChoice:
        if self.selector.holding(context.symbol) is not None:  # no choice: the opener holds
            return self.selector.select(context)
        probabilities = self.selector.probabilities(context)
        choice = self.selector.select(context)
        answers = tuple(_checked(name, t(context), context) for name, t in self._targets.items())
        # asked again for the same decision: the last answer is what ran
        self._rows[(context.symbol, context.time)] = ExploringRow(
            context.symbol,
            context.time,
            choice.strategy,
            float(probabilities.get(choice.strategy, 0.0)),
            tuple(float(x) for x in self._encoder(context)),
            answers,
        )
        return choice

    def report(self, trades: Sequence[Trade], bootstrap: BootstrapSettings) -> OffPolicyReport:
        """The estimates from this log and the exploring account's closed ``trades`` (the
        rewards: see the module docstring)."""
        rows = self.rows
        rewards = _rewards(rows, trades, self.name)
        opened = sum(1 for r in rewards if r != 0.0)
        if len(rows) < 2:
            return OffPolicyReport(self.name, len(rows), opened, float(np.mean(rewards or [0])), ())
        log = DecisionLog(
            features=np.array([r.features for r in rows], dtype=np.float64),
            actions=np.array([STRATEGY_NAMES.index(r.strategy) for r in rows], dtype=np.int64),
            propensities=np.array([r.propensity for r in rows], dtype=np.float64),
            rewards=np.array(rewards, dtype=np.float64),
            versions=tuple(self.name for _ in rows),
            n_actions=len(STRATEGY_NAMES),
        )
        predicted = cross_fitted_rewards(log, folds=DR_FOLDS) if len(rows) >= DR_MIN_ROWS else None
        estimates = tuple(
            _estimate(name, log, [r.targets[i] for r in rows], predicted, bootstrap)
            for i, name in enumerate(self._targets)
        )
        return OffPolicyReport(self.name, len(rows), opened, log.logging_mean(), estimates)


@dataclass(frozen=True, slots=True)
class TargetEstimate:
    """One target's estimated reward per choice: IPS, SNIPS (None when no row agrees) and DR
    (None under :data:`DR_MIN_ROWS` rows); ``agreement``: the share of rows where it chose what
    the exploring selector drew."""

    name: str
    agreement: float
    ips: OffPolicyEstimate
    snips: OffPolicyEstimate | None
    dr: OffPolicyEstimate | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "agreement": self.agreement,
            "ips": self.ips.to_dict(),
            "snips": None if self.snips is None else self.snips.to_dict(),
            "dr": None if self.dr is None else self.dr.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class OffPolicyReport:
    """What the log says: its size, the choices that opened a trade, the exploring selector's
    own mean reward per choice, and each target's estimates."""

    logging: str
    choices: int
    opened: int
    logging_mean: float
    targets: tuple[TargetEstimate, ...]

    def summary(self) -> str:
        """One line, rewards in basis points of entry notional per choice."""
        head = (
            f"off-policy over {self.choices} choices of {self.logging} ({self.opened} opened a "
            f"trade; {self.logging} {_bp(self.logging_mean)}/choice)"
        )
        parts = []
        for t in self.targets:
            dr = "" if t.dr is None else f", DR {_bp(t.dr.value)}"
            parts.append(
                f"{t.name} IPS {_bp(t.ips.value)} [{_bp(t.ips.low)}, {_bp(t.ips.high)}]{dr} "
                f"(ESS {t.ips.effective_sample_size:.0f}, agrees {t.agreement:.0%})"
            )
        return head + (": " + "; ".join(parts) if parts else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "logging": self.logging,
            "choices": self.choices,
            "opened": self.opened,
            "logging_mean": self.logging_mean,
            "targets": {t.name: t.to_dict() for t in self.targets},
        }


def _estimate(
    name: str,
    log: DecisionLog,
    choices: Sequence[str],
    predicted: npt.NDArray[np.float64] | None,
    bootstrap: BootstrapSettings,
) -> TargetEstimate:
    target = one_hot_policy([STRATEGY_NAMES.index(c) for c in choices], log.n_actions)
    agree = target[np.arange(len(log)), log.actions]
    return TargetEstimate(
        name,
        float(agree.mean()),
        ips(log, target, bootstrap=bootstrap),
        snips(log, target, bootstrap=bootstrap) if agree.any() else None,
        None if predicted is None else doubly_robust(log, target, predicted, bootstrap=bootstrap),
    )


def _rewards(rows: Sequence[ExploringRow], trades: Sequence[Trade], selector: str) -> list[float]:
    """Each row's reward: the net return of the trades its choice opened (0: none)."""
    earned: dict[tuple[str, int], float] = {}
    for trade in trades:
        ref = trade.decision
        if ref is None or ref.selector != selector:
            continue
        key = ref.symbol_and_time()
        if key is None:
            raise ValueError(
                f"off-policy rewards: trade {trade.trade_id} of {trade.symbol}: decision id "
                f"{ref.decision_id!r} is not '<symbol>@<time>'"
            )
        earned[key] = earned.get(key, 0.0) + trade_reward(trade)
    return [earned.get((r.symbol, r.time), 0.0) for r in rows]


def _checked(name: str, strategy: str, context: SelectionContext) -> str:
    if strategy not in STRATEGY_NAMES:
        raise ValueError(
            f"ExploringLog: target {name!r} chose {strategy!r} at {context.symbol}@"
            f"{context.time}; strategies are {list(STRATEGY_NAMES)}"
        )
    return strategy


def _bp(value: float) -> str:
    return f"{value * 1e4:+.2f} bp"
