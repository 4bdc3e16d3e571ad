"""The challengers of a run, each trading shadow accounts beside production: the model lines'
candidates (``app/shadow_trading.py``, with continuous learning and ``QT_SHADOW_TRADING``) and
the Q-learning selector (``app/qlearning_shadow.py``, ``QT_QLEARNING``) and the PPO selector's
SHADOW policy with its training daemon (``app/rl_agents.py``, ``QT_RL_AGENTS``), and the A/B
experiment between the selector challengers (``app/ab_testing.py``, ``QT_AB_TESTING``). Their
accounts are fed after production on every candle; nothing they do reaches production's
decisions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.app.ab_testing import ABTesting, attach_ab_testing
from quantum_trader.app.compose import SELECTORS
from quantum_trader.app.continuous_learning import ContinuousLearning
from quantum_trader.app.qlearning_shadow import QLearningShadow, attach_qlearning
from quantum_trader.app.rl_agents import RLAgents, RLSources, attach_rl_agents
from quantum_trader.app.runtime import Runtime
from quantum_trader.app.shadow_trading import ShadowComposer, attach_shadow_trading
from quantum_trader.decision.pipeline import DecisionPipeline
from quantum_trader.decision.shadow import ShadowTrading
from quantum_trader.domain.market import FundingRate
from quantum_trader.engine.session import TradingSession
from quantum_trader.lifecycle import Lifecycle
from quantum_trader.risk.kill_switch import KillSwitchStore


@dataclass(frozen=True, slots=True)
class Challengers:
    models: ShadowTrading | None  # the model lines' pairs (None: off)
    qlearning: QLearningShadow | None  # module 14's pair (None: off, or it could not start)
    agents: RLAgents | None = None  # modules 13 and 16 (None: QT_RL_AGENTS off)
    ab: ABTesting | None = None  # module 18's experiment between them (None: off)

    def summary(self) -> dict[str, Any]:
        """Their part of the run summary: ``shadow_trading`` (the model pairs that finished)
        and ``qlearning_shadow``, each present when on."""
        out: dict[str, Any] = {}
        if self.models is not None:
            out["shadow_trading"] = [asdict(f) for f in self.models.finished]
        if self.qlearning is not None:
            out["qlearning_shadow"] = self.qlearning.summary()
        if self.agents is not None:
            out["rl_agents"] = self.agents.summary()
        if self.ab is not None:
            out["ab_testing"] = self.ab.summary()
        return out


def attach_challengers(
    rt: Runtime,
    learning: ContinuousLearning | None,
    production: DecisionPipeline,
    session: TradingSession,
    store: CandleStore,
    funding: Mapping[str, Sequence[FundingRate]],
    kill_switch: KillSwitchStore | None,
    lifecycle: Lifecycle,
    *,
    warm_up: int,
    sources: RLSources | None = None,
) -> Challengers:
    """Start the run's challengers on ``session``, whose pipeline ``production`` is bound and
    whose clock is at the replay's start; their accounts warm on the ``warm_up`` candles of
    ``store`` before it."""
    composer = ShadowComposer(rt, production, session, store, funding, kill_switch, warm_up=warm_up)
    models = None
    if learning is not None and rt.settings.shadow_trading:
        models = attach_shadow_trading(learning, composer, session)
    qlearning = attach_qlearning(rt, composer, lifecycle, session.feed.bars)
    agents = None
    if sources is not None:
        agents = attach_rl_agents(rt, composer, lifecycle, production, sources, session.feed.bars)
    if qlearning is not None:
        _offpolicy_targets(rt, qlearning, agents)
    registry = None if sources is None else sources.registry
    book = None if learning is None else learning.book
    lines = (models, None if models is None or book is None else book.listeners)
    ab = attach_ab_testing(rt, session, lifecycle, qlearning, agents, registry, lines)
    return Challengers(models, qlearning, agents, ab)


def _offpolicy_targets(rt: Runtime, qlearning: QLearningShadow, agents: RLAgents | None) -> None:
    """What the Q-learner's choices are judged against off-policy (``app/qlearning_shadow.py``):
    the configured rule selector, and the PPO line's policy (the shadow account's; with
    ``QT_SELECTOR=ppo``, production's), each asked without counting in any status."""
    settings = rt.settings
    rules = SELECTORS[settings.selector](settings, None)  # a fresh one: no status handle
    qlearning.log.add_target(rules.name, lambda context: rules.select(context).strategy)
    if agents is None:
        return
    policy = agents.shadow if agents.shadow is not None else agents.production
    name = "ppo_shadow" if agents.shadow is not None else "ppo"
    qlearning.log.add_target(name, lambda context: policy.decide(context, fallback=rules).strategy)
