"""Modules 13 (``rl_meta_strategy``) and 16 (``rl_v3_training``) in a run (``QT_RL_AGENTS``).

* **Production's selector** is a :class:`~quantum_trader.agents.policy_selector.PolicySelector`
  (``app/compose.py``): it serves the PPO selector line's PRODUCTION policy
  (``ppo_selector/global/h0``) and, while there is none, or when inference fails, the
  configured selector (``QT_SELECTOR``, the rule selector by default) decides — and the
  module's counters say which decided how often. With no policy in production the decisions
  are the configured selector's own (``tests/app/test_rl_agents.py``). ``QT_SELECTOR=ppo``
  serves the line's newest policy whatever its stage (the system evaluation's PPO variant: the
  operator's explicit choice).
* **The training daemon** (``rl/daemon.py``) trains the line's first policy before the replay
  when it has none (else reuses it), then on the policy store's ``rl.v3.training`` schedule
  in its own worker process (torch stays there). A policy goes to PRODUCTION only when both its
  held-out week and the line's shadow account beat the rule selector (95 % intervals above
  zero, at least 30 shadow trades); else to SHADOW.
* **The shadow account**: a :class:`~quantum_trader.decision.shadow.ShadowPair` like the
  Q-learner's (``app/qlearning_shadow.py``): the challenger account's selector serves the
  SHADOW policy (swapped at each landing), its twin production's selector; the pair's
  figures at the stop compare them on the same candles.
* **The canary**: a policy that wins its candidate experiment or the run's own experiment
  enters CANARY (``app/policy_candidates.py``, ``app/ab_testing.py``);
  :func:`attach_selector_canary` has ``rl/selector_canary.SelectorCanary`` serve it:
  production's selector hands it its share of the decisions, the shadow account keeps serving
  it as its evidence (a SHADOW landing waits, counted ``shadow_landings_held``, and is served
  when the canary ends), and the rule steps it on to PRODUCTION, which production's selector
  then serves, or retires it. A CANARY an earlier run left is served again when the run starts
  (:meth:`RLAgents.start`, before the bootstrap), judged afresh, or retired when serving it
  would look ahead (``rl/policy_canary.PolicyCanary.resume``).

``QT_RL_TRAINING_INTERVAL_MINUTES`` (one day by default) is written to ``rl.v3.training`` as
its first value if the key was never set (the operator's later changes win, live): the store's
own default (30 minutes, the issue's) would train 4,320 times in ``make run``'s 90-day replay,
which waits for each run's landing.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.agents.observation import selector_observation
from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_selector import PolicyDecision, PolicySelector
from quantum_trader.app.code_version import code_version
from quantum_trader.app.configs import (
    ensemble_config,
    entry_cost_config,
    exchange_config,
    feature_config,
    funding_config,
    labels,
    risk_config,
    strategy_config,
)
from quantum_trader.app.rl_serving import (
    MODULE,
    SIZER_POLICY,
    policy_canary,
    resume_canary,
    still_in_shadow,
)
from quantum_trader.app.rl_sizing import SizerTraining, attach_rl_sizing
from quantum_trader.app.runtime import Runtime
from quantum_trader.app.shadow_trading import ShadowComposer, follow_pair, forward_evidence
from quantum_trader.app.training_backend import log_started, training_worker
from quantum_trader.bus.policy_store import RLTrainingPolicy
from quantum_trader.clock.worker_jobs import Worker
from quantum_trader.config.settings import Settings
from quantum_trader.decision.pipeline import DecisionPipeline
from quantum_trader.decision.shadow import PairFigures, ShadowTrading
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.time import MS_PER_DAY, fmt, timeframe_ms
from quantum_trader.engine.engine import Bar, BarHandler, BarSkipper
from quantum_trader.evaluation.ledger import TrialLedger
from quantum_trader.learning.registry import ModelKey, ModelRegistry, ModelVersion, Stage
from quantum_trader.learning.serving import version_in
from quantum_trader.learning.trainers import FORECAST_SCOPE, FamilyKind, family
from quantum_trader.lifecycle import ComponentContext, Hooks, Lifecycle
from quantum_trader.observability.logging import get_logger
from quantum_trader.performance.metrics import periods_per_year
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.rl.daemon import (
    MODULE as TRAINING_MODULE,
)
from quantum_trader.rl.daemon import (
    SCHEDULE_KEY,
    PolicyTrainer,
    PolicyTrainingConfig,
)
from quantum_trader.rl.env import EnvConfig
from quantum_trader.rl.jobs import members_from_store
from quantum_trader.rl.parts import EnvPartsConfig
from quantum_trader.rl.ppo import LoadMembers, PpoConfig
from quantum_trader.rl.selector_canary import SelectorCanary
from quantum_trader.status.registry import ModuleHandle, ModuleState

log = get_logger(__name__)


class DecisionLog:
    """Every PPO selector decision of the run, production's and the shadow account's: the
    action, its probability under the policy, the policy version (or the fallback's name) and
    who decided — the record other policies are evaluated off-policy from
    (``evaluation/logged_decisions.py``). Written as ``policy_decisions.csv`` at the stop."""

    COLUMNS = ("account", "symbol", "time", "strategy", "propensity", "policy_version",
               "decided_by", "probabilities")  # fmt: skip

    def __init__(self) -> None:
        self.rows: list[tuple[object, ...]] = []

    def follow(self, selector: PolicySelector, account: str) -> None:
        def record(d: PolicyDecision) -> None:
            probs = ";".join(
                f"{a}={p:.6f}" for a, p in zip(d.actions, d.probabilities, strict=True)
            )
            self.rows.append((account, d.symbol, d.time, d.strategy, f"{d.propensity:.6f}",
                              d.policy_version, d.decided_by, probs))  # fmt: skip

        selector.on_decision = record

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(self.COLUMNS)
            writer.writerows(self.rows)
        return path


@dataclass(slots=True)
class RLAgents:
    """Modules 13 and 16 of a run."""

    production: PolicySelector  # production's selector
    shadow: PolicySelector | None  # the shadow account's (None: QT_SELECTOR=ppo, no pair)
    trainer: PolicyTrainer
    handle: ModuleHandle
    trading: ShadowTrading | None = None
    figures: PairFigures | None = None
    log: DecisionLog = field(default_factory=DecisionLog)
    log_path: Path | None = None
    sizing: SizerTraining | None = None  # module 15's line (None: RL_SIZING_ENABLED off)
    #: told after each policy is served, with its stage (``app/ab_testing.py``: a SHADOW
    #: landing gets a candidate experiment)
    serving_listeners: list[Callable[[Stage, OnnxPolicy], object]] = field(default_factory=list)
    canary: SelectorCanary | None = None  # the line's canary rule (None: no shadow pair)
    held: OnnxPolicy | None = None  # a SHADOW landing waiting while the canary holds the account

    def on_serving(self, stage: Stage, policy: OnnxPolicy) -> None:
        """A policy serves in ``stage`` from the next decision on (see the module docstring)."""
        if stage is Stage.PRODUCTION or self.shadow is None:
            self.production.replace(policy)
            self.handle.gauge("production_version", policy.registry_version or 0)
        elif self.canary is not None and self.canary.holds_shadow:
            self.held = policy  # its candidate experiment waits for the account too
            self.handle.count("shadow_landings_held")
            self.handle.count(f"policies_served_{stage.value.lower()}")
            return
        if self.shadow is not None and stage is not Stage.PRODUCTION:
            self.shadow.replace(policy)
            self.handle.gauge("shadow_version", policy.registry_version or 0)
        self.handle.count(f"policies_served_{stage.value.lower()}")
        for listener in self.serving_listeners:
            listener(stage, policy)

    def release(self) -> None:
        """The canary ended: the SHADOW landing that waited (if still in SHADOW) is served."""
        held, self.held = self.held, None
        if held is not None and still_in_shadow(self.trainer, held):
            self.on_serving(Stage.SHADOW, held)

    def start(self, ctx: ComponentContext, worker: Worker, now: int) -> ModelVersion | None:
        """Serve again the CANARY an earlier run left (or retire it: ``resume_canary``), train
        (or reuse) the line's first policy, then follow the schedule; the version the
        bootstrap serves (None: none)."""
        resume_canary(self.canary, self.trainer, self.on_serving, now)
        served = self.trainer.bootstrap(now, worker)
        self.trainer.start(ctx.scheduler, worker, ctx.clock.now)
        return served

    def summary(self) -> dict[str, Any]:
        """The run summary's ``rl_agents``."""
        held, sizing = self.trainer.last_result, self.sizing
        return {
            "decisions": dict(self.handle.status.counters),
            "training": dict(self.trainer.handle.status.counters),
            "last_held_out": None if held is None else held.held_out.summary(),
            "shadow_pair": None if self.figures is None else self.figures.summary(),
            "decision_log": None if self.log_path is None else str(self.log_path),
            "decisions_logged": len(self.log.rows),
            "sizer_shadow_pair": None if sizing is None else sizing.summary(),
        }


def attach_rl_agents(
    rt: Runtime,
    composer: ShadowComposer,
    lifecycle: Lifecycle,
    production: DecisionPipeline,
    sources: RLSources,
    replay: Callable[[], Iterable[Bar]],
) -> RLAgents | None:
    """Register module 16 and start modules 13 and 16 at the clock's now (see the module
    docstring); None when ``QT_RL_AGENTS`` is off."""
    settings = rt.settings
    training = rt.register(
        TRAINING_MODULE,
        "trains the PPO strategy selector in a worker on the engine clock (policy store "
        f"{SCHEDULE_KEY}), judges each policy on held-out candles against the rule selector",
    )
    parts = production.parts
    assert parts is not None, "the production pipeline is bound before the agents"
    selector = parts.selector
    handle = rt.modules.get(MODULE)
    if not training.enabled or not isinstance(selector, PolicySelector) or handle is None:
        return None
    _initial_schedule(rt)
    shadow = None if settings.selector == "ppo" else PolicySelector(
        None, selector_observation, name="ppo_selector_shadow"
    )  # fmt: skip
    trainer = _trainer(rt, sources, training, composer)
    agents = RLAgents(selector, shadow, trainer, handle)
    agents.trainer.on_serving = agents.on_serving
    agents.log.follow(selector, "production")
    if shadow is not None:
        agents.log.follow(shadow, "shadow")
    now = rt.clock.now()
    if shadow is not None:
        _shadow_pair(agents, composer, now, replay)
    sizer_line = {"name": SIZER_POLICY, "kind": "sizer", "counter_prefix": "sizer_"}
    sizing = attach_rl_sizing(
        rt,
        parts.sizer,
        lambda: _trainer(rt, sources, training, composer, **sizer_line),
        composer,
        replay,
    )
    agents.sizing = sizing
    worker = training_worker(rt.settings, "rl-training", rt.training_pause, training)

    def start(ctx: ComponentContext) -> None:
        worker.start()
        log_started(worker)
        served = agents.start(ctx, worker, now)
        log.info("rl_agents.started", serving=None if served is None else served.version,
                 stage=None if served is None else str(served.stage), at=fmt(now))  # fmt: skip
        if served is None:
            handle.set_state(ModuleState.ACTIVE, "no policy could be trained: the rules decide")
        if sizing is not None:
            sizing.start(ctx, worker, now)

    def stop() -> None:
        worker.shutdown()
        _final_reason(agents, settings)
        if sizing is not None:
            sizing.finish(settings.sizer)
        path = settings.home / "runs" / rt.run_id / "policy_decisions.csv"
        agents.log_path = agents.log.write(path)
        handle.gauge("decisions_logged", len(agents.log.rows))

    lifecycle.start(Hooks(TRAINING_MODULE, start=start, stop=stop))
    return agents


@dataclass(frozen=True)
class RLSources:
    """What the daemon reads: the registry and artifacts, the candle store, the funding, the
    trial ledger."""

    registry: ModelRegistry
    artifacts: LocalArtifactStore
    store: CandleStore
    funding: Mapping[str, Sequence[FundingRate]]
    ledger: TrialLedger | None


def _initial_schedule(rt: Runtime) -> None:
    minutes = rt.settings.rl_training_interval_minutes
    if rt.policies.version(SCHEDULE_KEY) > 0:  # set before: the operator's value stands
        return
    value = RLTrainingPolicy(interval_minutes=minutes)
    why = f"first value from QT_RL_TRAINING_INTERVAL_MINUTES={minutes}"
    rt.policies.set(SCHEDULE_KEY, value, by="config", reason=why)


def env_config(settings: Settings, warm_up: int) -> EnvConfig:
    """The environment's settings, from the run's (one code path: its costs are the replay's);
    ``warm_up``: the candles that warm the indicators, the run's own."""
    spec = labels(settings)
    return EnvConfig(
        symbol=settings.symbols[0],
        parts=EnvPartsConfig(
            ensemble_config(settings),
            risk=risk_config(settings),
            entry_gate=entry_cost_config(settings),  # production's gate: one decision path
            label_dead_zone=spec.dead_zone,
            strategies=strategy_config(settings),
        ),
        timeframe=settings.timeframe,
        warm_up_candles=warm_up,
        initial_balance=settings.initial_balance,
        exchange=exchange_config(settings),
        funding=funding_config(settings),
        labels=spec,
        features=feature_config(settings),
    )


def _trainer(
    rt: Runtime,
    sources: RLSources,
    handle: ModuleHandle,
    composer: ShadowComposer,
    **line: Any,
) -> PolicyTrainer:
    """The daemon over the session's symbols (a synthetic run's are renamed), its episodes
    warmed as the run's candles are; ``line``: another line's name, kind and counter prefix
    (the sizer's)."""
    settings = rt.settings
    tf = timeframe_ms(settings.timeframe)
    config = PolicyTrainingConfig(
        tuple(composer.symbols),
        env_config(settings, composer.warm_up),
        PpoConfig(seed=settings.seed),
        periods_per_year(settings.timeframe),
        f"{settings.timeframe}/h{settings.label_horizon}",
        train_candles=settings.rl_train_days * MS_PER_DAY // tf,
        held_out_candles=settings.rl_held_out_days * MS_PER_DAY // tf,
        bootstrap_episodes=settings.rl_bootstrap_episodes,
        run_id=rt.run_id,
        **line,
    )

    def read(symbol: str, t: int, count: int) -> pd.DataFrame:
        first = t - (count + 1) * tf
        return sources.store.load(symbol, settings.timeframe, start=first, end=t - tf + 1)

    def served(symbol: str) -> LoadMembers:
        artifacts = []
        for name in settings.ensemble_models:
            scope = FORECAST_SCOPE if family(name).kind is FamilyKind.FORECASTER else symbol
            key = ModelKey(name, scope, settings.label_horizon)
            version = version_in(sources.registry, key, Stage.PRODUCTION)
            if version is not None:
                artifacts.append((name, version.artifact_hash))
        return partial(members_from_store, sources.artifacts, tuple(artifacts), labels(settings))

    return PolicyTrainer(
        config,
        registry=sources.registry,
        store=sources.artifacts,
        policies=rt.policies,
        read_candles=read,
        served=served,
        funding=lambda symbol: tuple(sources.funding.get(symbol, ())),
        handle=handle,
        on_serving=lambda _stage, _policy: None,  # replaced by RLAgents.on_serving
        code_version=code_version(),
        ledger=sources.ledger,
    )


def _shadow_pair(
    agents: RLAgents, composer: ShadowComposer, now: int, replay: Callable[[], Iterable[Bar]]
) -> None:
    shadow = agents.shadow
    assert shadow is not None
    pair = composer.selector_pair(shadow, now, replay=replay)

    def finished(figures: PairFigures) -> None:
        agents.figures = figures
        log.info("rl_agents.shadow_finished", summary=figures.summary())

    agents.trainer.forward = forward_evidence(pair)
    agents.trading = follow_pair(composer, pair, agents.handle, finished)
    twin, challenger = pair.twin.portfolio, pair.challenger.portfolio
    settings = composer.rt.settings
    attach_selector_canary(agents, twin, challenger, composer.session.follow,
                           seed=settings.seed, control=settings.selector)  # fmt: skip


def attach_selector_canary(
    agents: RLAgents,
    twin: Portfolio,
    challenger: Portfolio,
    follow: Callable[[BarHandler, BarSkipper], object],
    *,
    seed: int,
    control: str,
) -> SelectorCanary:
    """The line's canary rule over its shadow pair's sub-ledgers (``twin``, ``challenger``),
    routed by production's selector, told of CANARY promotions by the line's listeners and fed
    by ``follow`` (the session's, after the pair) as handler and fast-forward side."""
    canary = policy_canary(
        SelectorCanary, agents.trainer, agents.handle, (twin, challenger), follow,
        on_serving=agents.on_serving, on_release=agents.release,
        listeners=agents.serving_listeners, seed=seed, control=control,
    )  # fmt: skip
    agents.canary = agents.production.canary = canary
    return canary


def _final_reason(agents: RLAgents, settings: Settings) -> None:
    """Module 13's status reason at the stop: who decided, which policy serves where."""
    if agents.trading is not None:
        agents.trading.finish_all()
    counters = agents.handle.status.counters
    by_policy, by_rules = (
        counters.get("decided_by_policy", 0),
        counters.get("decided_by_fallback", 0),
    )
    production = agents.trainer.registry.production(agents.trainer.key)
    serving = agents.trainer.serving_version()
    where = (
        f"v{production.version} in PRODUCTION"
        if production is not None
        else (
            f"v{serving.version} in SHADOW: no policy has beaten the rule selector both on its "
            "held-out week and in the shadow account, so the rules decide"
            if serving is not None
            else "no policy trained"
        )
    )
    pair = (
        ""
        if agents.figures is None
        else f"; shadow vs {settings.selector}: {agents.figures.summary()}"
    )
    canary = counters.get("decided_by_canary", 0)
    by_policy_text = f"{by_policy}" if not canary else f"{by_policy}, by a canary {canary}"
    if agents.handle.status.state is ModuleState.ACTIVE:
        agents.handle.set_state(
            ModuleState.ACTIVE,
            f"{where}; production decisions by policy {by_policy_text}, by {settings.selector} "
            f"{by_rules}{pair}{_canary_text(agents.canary)}",
        )
    last = agents.trainer.last_result
    if last is not None and agents.trainer.handle.status.state is ModuleState.ACTIVE:
        agents.trainer.handle.set_state(
            ModuleState.ACTIVE,
            f"{counters_text(agents.trainer.handle)}; last: {last.held_out.summary()}",
        )


def _canary_text(canary: SelectorCanary | None) -> str:
    if canary is None or (canary.serving is None and not canary.moves):
        return ""
    serving = canary.serving
    now = "" if serving is None else f"v{serving.version} at {serving.share:.0%}, "
    moves = "; ".join(canary.moves[-2:]) or "no move yet"
    return f"; canary: {now}{canary.taken} of {canary.offered} decisions; {moves}"


def counters_text(handle: ModuleHandle) -> str:
    c = handle.status.counters
    return (
        f"{c.get('training_runs', 0)} runs, {c.get('episodes', 0)} episodes, "
        f"{c.get('timesteps', 0)} steps, {c.get('runs_failed', 0)} failed"
    )
