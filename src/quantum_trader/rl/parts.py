"""The decision path an RL environment drives: production's modules, on the episode's account.

:func:`env_parts` builds the pipeline's parts (``decision/parts.py``) the way the composition
root does (``app/compose.py``, ``app/shadow_trading.py``), each module a fresh instance on the
episode's private bus and clock, with these differences, on purpose:

* the **selector** is the environment's (:class:`ActionSelector`): the agent's action is the
  strategy;
* the **trading policy** is fixed (:class:`EnvPartsConfig` ``policy``): the meta strategy
  controller, which changes the risk mode from health and regime, is left out, so that what the
  agent learns is its own choice, not the controller's reaction to it;
* the **kill switch** is the episode's, in memory, never engaged (the operator's switch is for
  real orders);
* the risk engine's decisions go to a journal in memory (nobody's record);
* the intelligence modules (memory, reinforcement weights) and expectancy benching are off: the
  members vote with equal weights, and a benched strategy would silently replace the agent's
  choice by Neutral. The cost gate of entries is on when ``entry_gate`` is given.

The members (``models/ensemble/member.py``) are loaded by the caller (the app loads them by
stage from the registry, a test or bench passes its own); they are shared across episodes,
which is safe because a member's vote depends on its input only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from quantum_trader.clock.clock import Clock
from quantum_trader.decision.parts import PartsFactory, PipelineParts
from quantum_trader.decision.views import PortfolioRiskView
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.engine.trader import TradingContext
from quantum_trader.models.ensemble.ensemble import Ensemble, EnsembleConfig
from quantum_trader.models.ensemble.member import Member
from quantum_trader.models.ensemble.weights import EqualWeights
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.kill_switch import KillSwitch, KillSwitchState
from quantum_trader.risk.memory_journal import MemoryRiskJournal
from quantum_trader.risk.policy_source import FixedPolicySource
from quantum_trader.strategy.cost_gate import EntryCostConfig, EntryCostGate
from quantum_trader.strategy.regime import RegimeDetector
from quantum_trader.strategy.selector import (
    STRATEGY_NAMES,
    SelectionContext,
    StrategyChoice,
    StrategySelector,
)
from quantum_trader.strategy.sizing import FixedFractionalSizer, PositionSizer
from quantum_trader.strategy.strategies import StrategyConfig, default_strategies

#: the selector name an environment's decisions carry (``DecisionRef.selector``)
ENV_SELECTOR = "rl_env"


@dataclass(frozen=True, slots=True)
class EnvPartsConfig:
    """The modules' settings (the app builds them from its settings, as for production)."""

    ensemble: EnsembleConfig
    risk: RiskConfig = field(default_factory=RiskConfig)
    policy: TradingPolicy = field(default_factory=TradingPolicy)
    #: the cost gate of entries and the label dead zone it prices against (None: no gate)
    entry_gate: EntryCostConfig | None = None
    label_dead_zone: float = 0.0
    #: how the strategies enter (QT_ENTRY_RULE), as production's
    strategies: StrategyConfig = field(default_factory=StrategyConfig)


class ActionSelector:
    """The strategy selector port answered by the environment: :meth:`choose` sets the next
    answer, :meth:`select` gives it once. Asked without an answer set, it raises: a decision
    must never fall back to something the agent did not choose."""

    name = ENV_SELECTOR

    def __init__(self) -> None:
        self._next: str | None = None
        self.last: SelectionContext | None = None

    def choose(self, strategy: str) -> None:
        if strategy not in STRATEGY_NAMES:
            raise ValueError(f"ActionSelector: unknown strategy {strategy!r}")
        self._next = strategy

    def select(self, context: SelectionContext) -> StrategyChoice:
        strategy = self._next
        if strategy is None:
            raise RuntimeError(
                f"ActionSelector asked for {context.symbol}@{context.time} with no action set"
            )
        self._next = None
        self.last = context
        return StrategyChoice(strategy, f"rl environment action → {strategy}", self.name)


class MemoryKillSwitchStore:
    """The episode's kill switch store: in memory, never engaged unless a test does."""

    def __init__(self) -> None:
        self.states: list[KillSwitchState] = []

    def latest_kill_switch(self) -> KillSwitchState | None:
        return self.states[-1] if self.states else None

    def append_kill_switch(self, state: KillSwitchState) -> None:
        self.states.append(state)


def env_parts(
    config: EnvPartsConfig,
    members: Mapping[str, Sequence[Member]],
    selector: StrategySelector,
    clock: Clock,
    *,
    run_id: str = "rl-env",
    sizer: PositionSizer | None = None,
) -> PartsFactory:
    """The parts factory of an episode's pipeline (see the module docstring); ``members``
    maps each traded symbol to its ensemble's members. ``selector``: the environment's
    :class:`ActionSelector` (another one replays the same path with its choices: a test
    compares the two). ``sizer``: fixed fractional unless given (the sizing environment's
    action sizer, ``rl/sizing_env.py``)."""

    def build(context: TradingContext) -> PipelineParts:
        bus = context.orders.bus
        view = PortfolioRiskView(context)
        policy = FixedPolicySource(config.policy)
        risk = RiskEngine(
            config=config.risk,
            portfolio=view,
            policy=policy,
            kill_switch=KillSwitch(MemoryKillSwitchStore(), clock),
            journal=MemoryRiskJournal(),
            clock=clock,
            bus=bus,
            run_id=run_id,
        )
        risk.attach(bus)
        gate = config.entry_gate
        return PipelineParts(
            ensembles={
                s: Ensemble(config.ensemble, list(m), EqualWeights()) for s, m in members.items()
            },
            intelligence=None,
            regime=RegimeDetector(bus=bus),
            controller=None,
            selector=selector,
            strategies=default_strategies(config.strategies),
            sizer=sizer or FixedFractionalSizer(),
            risk=risk,
            policy=policy,
            risk_view=view,
            entry_gate=None if gate is None else EntryCostGate(gate, config.label_dead_zone),
        )

    return build
