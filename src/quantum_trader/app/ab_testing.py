"""Module 18, ``ab_testing``, in a run: an experiment between the run's selector challengers.

With ``QT_AB_TESTING`` (on by default) the run declares one experiment at the replay's start,
``ppo_vs_qlearning@<run id>``: the PPO selector's SHADOW policy (the control) against the
Q-learning challenger, each arm the shadow account that already trades it beside production
(``app/rl_agents.py``, ``app/qlearning_shadow.py``; both start flat with the same equity on
the same candle, at the same prices, fees and funding). Without the agents (``QT_RL_AGENTS``
off) the control is the Q-learner's twin, the configured rule selector: two strategy
configurations. The feed (``experiments/feed.py``) turns the accounts' equity into one paired
observation per candle and their entries into decision units drawn by Thompson sampling.

The run's own experiment runs in ``shadow`` mode: neither arm has beaten the rule selector out
of sample (issue 18), so neither may trade the real account, and production's orders stay the
rule selector's. The allocation is still drawn, stored and checked (sample ratio) for every
unit, which is what a routed experiment would send. A declared experiment
(``QT_AB_EXPERIMENT``) in ``route`` mode trades the real account: after every candle the router
(``experiments/router.py``) moves it to the allocated arm's position through production's risk
engine, and production's own intents on the routed symbols are held back
(``experiments/routing.py``, ``DecisionPipeline.hold_back``). A winner is promoted one stage
through the model registry's normal path when it is a registry policy (the PPO line), with its
rollback; the Q-learner has no registry version and its win is audited only.

Everything is stored in the run's database (``adapters/sql/experiments.py``) as it happens;
``quantum-trader experiments list|show`` reads it, during the run and after.

**Candidate experiments** (``experiments/candidates.py``): with the agents on, each PPO policy
the training daemon puts in SHADOW gets an experiment of its own, production's selector (the
line's shadow pair's twin) against the candidate (the pair's challenger), created at the
landing's engine time and fed from the next candle; a newer candidate or a production change
stops it. Unlike the run's own, it outlives the run: the next run whose daemon serves the same
candidate resumes it. The RL sizer's line (module 15, ``RL_SIZING_ENABLED``) gets the same, on
its own shadow pair, whose accounts differ only in the sizer; its winner is promoted one stage
(``app/policy_candidates.py`` wires both lines).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.app.model_candidates import ModelLines, attach_model_candidates
from quantum_trader.app.policy_candidates import PolicyLine, attach_policy_candidates
from quantum_trader.app.policy_candidates import summary as candidates_summary
from quantum_trader.app.qlearning_shadow import QLearningShadow
from quantum_trader.app.rl_agents import RLAgents
from quantum_trader.app.rl_sizing import SizerTraining
from quantum_trader.app.runtime import Runtime
from quantum_trader.config.settings import Settings
from quantum_trader.decision.pipeline import DecisionPipeline
from quantum_trader.decision.shadow import ShadowAccount, ShadowPair, ShadowTrading
from quantum_trader.engine.session import TradingSession
from quantum_trader.experiments.allocation import AllocationConfig
from quantum_trader.experiments.candidates import CandidateExperiments
from quantum_trader.experiments.creators import record_creator
from quantum_trader.experiments.experiment import Experiment, Promoter, Result
from quantum_trader.experiments.feed import ExperimentFeed
from quantum_trader.experiments.model_lines import ModelLineExperiments
from quantum_trader.experiments.records import ExperimentStatus
from quantum_trader.experiments.router import PositionRouter, RiskCheckedAccount, working_brackets
from quantum_trader.experiments.routing import ProductionHold
from quantum_trader.experiments.spec import ArmSpec, ExperimentSpec
from quantum_trader.learning.registry import ModelRegistry
from quantum_trader.lifecycle import Hooks, Lifecycle
from quantum_trader.performance.metrics import periods_per_year
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.status.registry import ModuleHandle, ModuleState

MODULE = "ab_testing"
log = structlog.get_logger("quantum_trader.ab_testing")


@dataclass(slots=True)
class ABTesting:
    """The run's experiment and its feed."""

    experiment: Experiment
    feed: ExperimentFeed
    handle: ModuleHandle
    periods_per_year: float
    #: route mode: the router and production's held-back intents (None: shadow mode)
    routing: ProductionHold | None = None
    #: the PPO line's candidate experiments (None: no agents or no shadow pair)
    candidates: CandidateExperiments | None = None
    #: the RL sizer line's candidate experiments (None: no sizer shadow pair)
    sizer_candidates: CandidateExperiments | None = None
    #: the model lines' candidate experiments (None: no shadow trading)
    model_candidates: ModelLineExperiments | None = None

    def summary(self) -> dict[str, Any]:
        """The run summary's ``ab_testing``."""
        e, r = self.experiment, self.experiment.result
        out: dict[str, Any] = {
            "experiment": e.spec.name,
            "status": e.status.value,
            "verdict": r.verdict.value,
            "arm": r.arm,
            "samples": r.samples,
            "units": dict(e.counts),
            "allocation": r.probabilities,
            "comparisons": {
                arm: {"mean_bp": c.mean, "low": c.low, "high": c.high, "rejected": c.rejected}
                for arm, c in r.comparisons.items()
            },
            "srm_p": r.srm.p_value,
            "arms": self.sample_needs(),
            "text": e.summary(),
        }
        if self.routing is not None:
            out["routing"] = _routing(self.routing)
        if self.candidates is not None:
            out["candidates"] = candidates_summary(self.candidates)
        if self.sizer_candidates is not None:
            out["sizer_candidates"] = candidates_summary(self.sizer_candidates)
        if self.model_candidates is not None:
            out["model_candidates"] = self.model_candidates.summary()
        return out

    def sample_needs(self) -> dict[str, dict[str, float | None]]:
        """Per treatment: its correlation with the control and the paired candles a +1.0
        annualised Sharpe edge would need at 80 % power (a fixed test's figure)."""
        out: dict[str, dict[str, float | None]] = {}
        for arm, moments in self.feed.moments.items():
            out[arm] = {
                "correlation": moments.correlation(),
                "candles_for_one_sharpe": moments.samples_for(1.0, self.periods_per_year),
            }
        return out


def attach_ab_testing(
    rt: Runtime,
    session: TradingSession,
    lifecycle: Lifecycle,
    qlearning: QLearningShadow | None,
    agents: RLAgents | None,
    registry: ModelRegistry | None,
    models: ModelLines = (None, None),
) -> ABTesting | None:
    """Register module 18 and start the run's experiment on the challengers' accounts, fed
    after them on every candle of ``session`` (see the module docstring); None when it is off
    or has no two arms (the status says why). ``models``: the model lines' shadow trading and
    the slot book's listeners (``app/model_candidates.py``; None: no shadow trading)."""
    settings = rt.settings
    handle = rt.register(MODULE, "A/B experiment between the selector challengers' shadow "
                         "accounts: always-valid paired test, Thompson allocation, SRM check")  # fmt: skip
    if not handle.enabled:
        return None
    arms = _arms(settings, qlearning, agents)
    store = SqlExperimentStore(rt.db)
    _stop_orphans(rt, store)
    candidates = attach_candidates(rt, session, lifecycle, agents, store, handle)
    sizers = attach_sizer_candidates(rt, session, lifecycle, agents, store, handle)
    lines = attach_model_candidates(rt, session, lifecycle, *models, store, handle)
    try:
        spec = _spec(rt, store, arms)
    except ValueError as exc:
        more = "" if candidates is None else "; the PPO line's candidate experiments run"
        more += "" if sizers is None else "; the sizer line's candidate experiments run"
        more += "" if lines is None else "; the model lines' candidate experiments run"
        handle.set_state(ModuleState.DEGRADED, f"no experiment: {exc}{more}")
        return None
    experiment = Experiment.start(store, spec, rt.clock.now())
    if not settings.ab_experiment:  # the run declared it (a declared one has its creator)
        record_creator(store, spec.name, rt.clock.now(), f"main job run {rt.run_id}")
    if agents is not None and registry is not None:
        experiment.promoter = _registry_promoter(agents, registry)
    books = {a: arms[a].book for a in spec.arm_names}
    feed = ExperimentFeed(
        experiment, books, lambda arm: arms[arm].version(), on_progress=lambda: _show(ab)
    )
    ab = ABTesting(experiment, feed, handle, periods_per_year(settings.timeframe))
    ab.candidates, ab.sizer_candidates, ab.model_candidates = candidates, sizers, lines

    def stop() -> None:
        feed.finish()
        if experiment.running and not settings.ab_experiment:
            experiment.stop(rt.clock.now(), "the run ended before a verdict: its arms' "
                            "accounts end with it")  # fmt: skip
        _show(ab)
        log.info("ab_testing.finished", summary=experiment.summary())

    session.follow(feed.on_bar)
    if spec.mode == "route":  # after the feed: the units of this candle are drawn
        ab.routing = _route(session, feed, arms, store)
        session.follow(ab.routing.router.on_bar)
    lifecycle.start(Hooks(MODULE, stop=stop))
    handle.set_state(ModuleState.ACTIVE, f"{spec.name}: running in {spec.mode} mode")
    log.info("ab_testing.started", experiment=spec.name, arms=spec.arm_names)
    return ab


def attach_candidates(
    rt: Runtime,
    session: TradingSession,
    lifecycle: Lifecycle,
    agents: RLAgents | None,
    store: SqlExperimentStore,
    handle: ModuleHandle,
) -> CandidateExperiments | None:
    """The PPO line's candidate experiments (``app/policy_candidates.py``); None without the
    agents' shadow pair."""
    if agents is None:
        return None
    line = _policy_line(agents, agents.production, rt.settings.selector, promote=True)
    if line is None:
        return None
    return attach_policy_candidates(rt, session, lifecycle, line, store, handle)


def attach_sizer_candidates(
    rt: Runtime,
    session: TradingSession,
    lifecycle: Lifecycle,
    agents: RLAgents | None,
    store: SqlExperimentStore,
    handle: ModuleHandle,
) -> CandidateExperiments | None:
    """The RL sizer line's candidate experiments (``app/policy_candidates.py``): arms of kind
    ``sizer``, a winner promoted one stage; None without the sizer's shadow pair."""
    sizing = None if agents is None else agents.sizing
    if sizing is None:
        return None
    line = _policy_line(sizing, sizing.sizer, rt.settings.sizer, kind="sizer", prefix="sizer_",
                        promote=True)  # fmt: skip
    if line is None:
        return None
    return attach_policy_candidates(rt, session, lifecycle, line, store, handle)


class _Serving(Protocol):
    """What serves a line's production policy (None: the base decides)."""

    @property
    def policy(self) -> OnnxPolicy | None: ...


def _policy_line(
    owner: RLAgents | SizerTraining, production: _Serving, base: str, **options: Any
) -> PolicyLine | None:
    """The line of ``owner`` (the selector's agents or the sizer's training) as its candidate
    experiments see it: its shadow pair's twin against its challenger; None without the pair.
    ``production``: what serves production's policy (``.policy``); ``base``: who decides
    without one (``QT_SELECTOR``'s or ``QT_SIZER``'s name)."""
    pair = None if owner.trading is None else _pair(owner.trading)
    shadow, trainer = owner.shadow, owner.trainer
    if shadow is None or pair is None:
        return None
    return PolicyLine(
        trainer.key, trainer.registry, pair.twin.portfolio, pair.challenger.portfolio,
        lambda: production.policy, lambda: shadow.policy, base, owner.serving_listeners,
        **options,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Arm:
    spec: ArmSpec
    account: ShadowAccount  # its sub-ledger
    version: Callable[[], str]  # what it runs now

    @property
    def book(self) -> Portfolio:
        return self.account.portfolio


def _route(
    session: TradingSession,
    feed: ExperimentFeed,
    arms: dict[str, _Arm],
    store: SqlExperimentStore,
) -> ProductionHold:
    """Route mode: the router trades the session's (the real) account through production's
    risk engine, with the allocated arm's brackets; production's pipeline holds back its own
    intents on the symbols the router owns. The router keeps its state in the experiment's
    store and takes up what an earlier run left there (a restart continues its units)."""
    production = session.trader
    if not isinstance(production, DecisionPipeline) or production.parts is None:
        raise ValueError("route mode needs the decision pipeline as the session's trader")
    real = RiskCheckedAccount(session.portfolio, session.orders, production.parts.risk)
    router = PositionRouter(
        feed,
        real,
        lambda arm, symbol: working_brackets(arms[arm].account.orders, symbol),
        store=store,
    )
    if router.resumed is not None:
        r = router.resumed
        log.info("ab_testing.router_resumed", experiment=feed.experiment.spec.name,
                 units=sorted(r.units), opened=sorted(r.opened), sent=r.sent)  # fmt: skip
    hold = ProductionHold(router)
    production.hold_back = hold
    return hold


def _routing(hold: ProductionHold) -> dict[str, int]:
    """The summary's ``routing``: the router's orders and production's intents held back."""
    r = hold.router
    return {"sent": r.sent, "trimmed": r.trimmed, "refused": r.refused,
            "held_entries": hold.held["entries"], "held_exits": hold.held["exits"]}  # fmt: skip


def _arms(
    settings: Settings, qlearning: QLearningShadow | None, agents: RLAgents | None
) -> dict[str, _Arm]:
    """The arms a run can feed: the Q-learner's account (``qlearning``), its twin on the rule
    selector (``rules``) and the PPO shadow policy's account (``ppo``), those that run."""
    out: dict[str, _Arm] = {}
    q_pair = None if qlearning is None else _pair(qlearning.trading)
    if qlearning is not None and q_pair is not None:
        learner = qlearning.selector
        out["rules"] = _Arm(ArmSpec("rules", "strategy", ref=settings.selector),
                            q_pair.twin, lambda: settings.selector)  # fmt: skip
        out["qlearning"] = _Arm(ArmSpec("qlearning", "policy", ref=learner.scope),
                                q_pair.challenger,
                                lambda: f"{learner.scope}: {learner.updates} updates")  # fmt: skip
    ppo_pair = None if agents is None or agents.trading is None else _pair(agents.trading)
    if agents is not None and agents.shadow is not None and ppo_pair is not None:
        shadow = agents.shadow

        def ppo_version() -> str:
            policy = shadow.policy
            return "no policy: the rules' fallback" if policy is None else policy.version

        ppo = ArmSpec("ppo", "policy", ref=str(agents.trainer.key))
        out["ppo"] = _Arm(ppo, ppo_pair.challenger, ppo_version)
    return out


def _spec(rt: Runtime, store: SqlExperimentStore, arms: dict[str, _Arm]) -> ExperimentSpec:
    """``QT_AB_EXPERIMENT``'s stored experiment, or this run's own: PPO against the Q-learner
    (or, without the agents, the rule selector against it)."""
    settings = rt.settings
    if settings.ab_experiment:
        stored = store.load(settings.ab_experiment)
        if stored is None:
            raise ValueError(f"QT_AB_EXPERIMENT={settings.ab_experiment}: no such experiment "
                             "(quantum-trader experiments list)")  # fmt: skip
        missing = [a for a in stored.spec.arm_names if a not in arms]
        if missing:
            raise ValueError(f"{stored.spec.name}: this run has no account for arms {missing} "
                             f"(it runs {sorted(arms)})")  # fmt: skip
        return stored.spec
    pair = ("ppo", "qlearning") if "ppo" in arms else ("rules", "qlearning")
    if not all(a in arms for a in pair):
        raise ValueError("it needs the Q-learning challenger's shadow accounts (QT_QLEARNING=true)")
    return ExperimentSpec(
        f"{pair[0]}_vs_{pair[1]}@{rt.run_id}",
        (arms[pair[0]].spec, arms[pair[1]].spec),
        allocation=AllocationConfig(kind=settings.ab_allocation),
        horizon=settings.ab_horizon,
        seed=settings.seed,
    )


#: a run's own experiment: ``<control>_vs_<treatment>@<run id>``
_RUN_OWN = re.compile(r"^[a-z]+_vs_[a-z]+@[0-9a-f]{12}$")


def _stop_orphans(rt: Runtime, store: SqlExperimentStore) -> None:
    """Stop the own experiments of runs that died before their end (killed): their arms'
    accounts died with them, and one engine runs at a time (``app/run_lock.py``), so any
    other run's own experiment still running is an orphan. Declared experiments are left be."""
    for name in store.names():
        own = _RUN_OWN.match(name) and not name.endswith(f"@{rt.run_id}")
        if not own or store.status(name) is not ExperimentStatus.RUNNING:
            continue
        stored = store.load(name)
        assert stored is not None
        reason = "its run ended without finishing (killed or crashed)"
        Experiment(stored, store).stop(rt.clock.now(), reason)
        log.warning("ab_testing.orphan_stopped", experiment=name)


def _pair(trading: ShadowTrading) -> ShadowPair | None:
    """The one pair a challenger's shadow trading follows (None once it finished)."""
    return next(iter(trading.active.values()), None)


def _registry_promoter(agents: RLAgents, registry: ModelRegistry) -> Promoter:
    """Promote a winning PPO policy one stage through the registry (its normal path, with its
    rollback); any other winner has no registry version, and the audit says so."""

    def promote(spec: ExperimentSpec, result: Result) -> str:
        policy = None if agents.shadow is None else agents.shadow.policy
        if result.arm != "ppo" or policy is None or policy.registry_version is None:
            return f"{result.arm} has no registry version to promote: audited only"
        key, version = agents.trainer.key, policy.registry_version
        done = registry.promote(key, version, actor=f"{MODULE}:{spec.name}",
                                reason=result.summary())  # fmt: skip
        if agents.canary is not None:  # the line's canary rule serves a CANARY one
            agents.canary.on_stage(done.stage, policy)
        return f"{key} v{version} promoted to {done.stage.value}"

    return promote


def _show(ab: ABTesting) -> None:
    """The module's evidence: counters and its status reason."""
    e, handle = ab.experiment, ab.handle
    handle.gauge("observations", e.result.samples)
    handle.gauge("units", sum(e.counts.values()))
    for arm, n in e.counts.items():
        handle.gauge(f"units_{arm}", n)
    handle.gauge("arms_stopped", len(e.stopped))
    if ab.routing is not None:
        for counter, n in _routing(ab.routing).items():
            handle.gauge(f"routing_{counter}", n)
    if handle.status.state is not ModuleState.ACTIVE:
        return
    needs = []
    for arm, need in ab.sample_needs().items():
        corr, candles = need["correlation"], need["candles_for_one_sharpe"]
        if corr is not None and candles is not None:
            years = candles / ab.periods_per_year
            needs.append(f"{arm} and {e.spec.control} correlate {corr:.2f}: a +1.0 Sharpe edge "
                         f"would need ~{years:.1f} years of candles at 80 % power (a fixed "
                         "test's figure; this always-valid one needs more)")  # fmt: skip
    routed = "" if ab.routing is None else f" (real account: {_routing(ab.routing)})"
    text = f"{e.spec.mode} mode{routed}: {e.summary()}"
    handle.set_state(ModuleState.ACTIVE, "; ".join([text, *needs]))
