"""Module 16, ``rl_v3_training``: the PPO selector's training daemon, on the engine clock.

Its schedule is the policy store's ``rl.v3.training`` (``bus/policy_store.py``
``RLTrainingPolicy``: enabled, every ``interval_minutes`` of engine time, ``episodes_per_run``
episodes per run), read at every run and followed live: a new interval reschedules the job
from the engine's now, ``enabled`` false skips runs (counted) until it is true again.

One run at engine time ``T`` (replay, paper and live alike; ``clock/worker_jobs.py``):

1. *prepare*, on the engine thread: the next symbol in turn; its candles closing at or before
   ``T`` (read by the app: nothing later can be read), split into the **training window**
   (episodes are drawn from it) and the **held-out window** (the last ``held_out_candles``,
   with the indicators' warm-up before them); the members production serves now (their
   artifacts, loaded in the worker); the weights to continue from — the line's PRODUCTION
   version's, else its newest SHADOW one's (the policy being judged: each run adds its
   episodes to it), else none (from scratch);
2. *compute*, in the worker (``rl/jobs.py`` :func:`~quantum_trader.rl.jobs.train_policy_job`;
   torch only there): train, judge on the held-out window beside the rule selector, export
   the bundle and the weights into the artifact store;
3. *apply*, one interval later on the engine thread (a replay waits there for it, so it is
   deterministic): register the CANDIDATE (lineage: the manifest, the held-out figures, the
   weights' address), record the trial in the ledger, and move it on: to **PRODUCTION** only
   on two pieces of evidence, both against the rule selector — its held-out Sharpe difference
   has a 95 % interval above zero, *and* the line's shadow account (forward, out of sample:
   the policies of this line trading beside a twin on production's selector since the run
   began) shows the same over at least ``min_forward_trades`` closed trades; else to
   **SHADOW** (the previous SHADOW version retires). One held-out week alone is too little:
   runs come every interval, and each would get a fresh chance to pass by luck (a 10-day test
   replay promoted 3 of 10 two-episode policies on it). ``on_serving`` hands the loaded policy
   and its stage to the app.

Each run trains ``episodes_per_run`` whole episodes: ``min(episodes, 4)`` environments, each
rollout one episode per environment (``n_steps`` = the episode's candles), so a run's
timesteps are whole episodes and its PPO update sees them complete.

A line with no version at the run's start trains one first (:meth:`PolicyTrainer.bootstrap`,
``bootstrap_episodes``), waiting for it: the main job starts the replay with a policy ("trains
or reuses"). A failed run is logged and counted (``runs_failed``); what served before serves on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import pandas as pd

from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.bus.policy_store import PolicyStore, RLTrainingPolicy
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.clock.worker_jobs import Worker, WorkerJobError, WorkerTask
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.time import MS_PER_MINUTE, fmt
from quantum_trader.evaluation.ledger import VALIDATION, Trial, TrialLedger, config_hash
from quantum_trader.learning.policies import (
    SELECTOR_POLICY,
    policy_key,
    register_policy,
    serving_policy,
    trained_after,
)
from quantum_trader.learning.registry import ModelRegistry, ModelVersion, Stage
from quantum_trader.observability.logging import get_logger
from quantum_trader.rl.env import EnvConfig
from quantum_trader.rl.jobs import (
    STATE_FILE,
    PolicyJob,
    PolicyJobResult,
    StateStore,
    train_policy_job,
)
from quantum_trader.rl.ppo import LoadMembers, PpoConfig, TrainingRequest
from quantum_trader.status.registry import ModuleHandle

log = get_logger(__name__)

MODULE = "rl_v3_training"
ACTOR = "rule:rl-training"
SCHEDULE_KEY = "rl.v3.training"

#: reads a symbol's candles closing at or before the time given, the newest ``count`` of them
ReadCandles = Callable[[str, int, int], pd.DataFrame]
#: the members production serves for a symbol now, as a loader the worker runs (it pickles:
#: e.g. a ``functools.partial`` of ``rl/jobs.py`` ``members_from_store``)
ServedMembers = Callable[[str], LoadMembers]
#: the app's hook: a policy now serves in this stage (PRODUCTION or SHADOW)
OnServing = Callable[[Stage, OnnxPolicy], object]
#: the line's forward evidence: its shadow account's paired Sharpe difference against the twin
#: on production's selector, as (lower bound of the 95 % interval or None, closed trades)
ForwardEvidence = Callable[[], tuple[float | None, int]]


@dataclass(frozen=True, slots=True)
class PolicyTrainingConfig:
    symbols: tuple[str, ...]
    env: EnvConfig  # the template (its symbol is each run's)
    ppo: PpoConfig  # the template (timesteps: episodes × episode candles; seed: + run index)
    periods_per_year: float
    feature_version: str
    train_candles: int = 2_160  # the training window (90 days of 1h candles)
    held_out_candles: int = 168  # the held-out window (7 days of 1h candles)
    bootstrap_episodes: int = 8
    min_forward_trades: int = 30
    name: str = SELECTOR_POLICY
    scope: str = "global"
    run_id: str = ""
    #: what the line's policies choose: the strategy, or the size's fraction (module 15)
    kind: Literal["selector", "sizer"] = "selector"
    #: before each status counter's name: two lines share module 16's status
    counter_prefix: str = ""

    def __post_init__(self) -> None:
        if self.train_candles < self.env.episode_candles + 1 or self.held_out_candles < 2:
            raise ValueError(
                f"PolicyTrainingConfig: train_candles={self.train_candles} must exceed "
                f"episode_candles={self.env.episode_candles}, held_out_candles="
                f"{self.held_out_candles} must be >= 2"
            )
        if not self.symbols or self.bootstrap_episodes < 1:
            raise ValueError("PolicyTrainingConfig: symbols empty or bootstrap_episodes < 1")


def run_job(job: PolicyJob | None) -> PolicyJobResult | None:
    """The worker's call: a run, or nothing when prepare skipped it."""
    return None if job is None else train_policy_job(job)


class PolicyTrainer:
    """The daemon (see the module docstring)."""

    def __init__(
        self,
        config: PolicyTrainingConfig,
        *,
        registry: ModelRegistry,
        store: StateStore,
        policies: PolicyStore,
        read_candles: ReadCandles,
        served: ServedMembers,
        funding: Callable[[str], Sequence[FundingRate]],
        handle: ModuleHandle,
        on_serving: OnServing,
        code_version: str,
        ledger: TrialLedger | None = None,
        forward: ForwardEvidence | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.store = store
        self.policies = policies
        self.read_candles = read_candles
        self.served = served
        self.funding = funding
        self.handle = handle
        self.on_serving = on_serving
        self.ledger = ledger
        self.code_version = code_version
        self.forward = forward  # None: no shadow account, so never promoted automatically
        self.key = policy_key(config.scope, config.name)
        self.runs = 0
        self.last_result: PolicyJobResult | None = None
        self._scheduler: Scheduler | None = None
        self._worker: Worker | None = None
        self._interval = 0
        self._now: Callable[[], int] = lambda: 0

    # --- scheduling ---------------------------------------------------------------------
    def start(
        self,
        scheduler: Scheduler,
        worker: Worker,
        now: Callable[[], int],
        *,
        start_at: int | None = None,
    ) -> None:
        """Schedule the runs on the policy store's interval, the first at ``start_at`` (default:
        one interval from now), and follow the store; ``now``: the engine clock (a new
        interval counts from it)."""
        self._scheduler, self._worker, self._now = scheduler, worker, now
        interval = self.schedule().interval_minutes * MS_PER_MINUTE
        self._schedule(now() + interval if start_at is None else start_at)
        self.policies.watch(SCHEDULE_KEY, RLTrainingPolicy, self._on_policy)

    def _schedule(self, start_at: int) -> None:
        assert self._scheduler is not None and self._worker is not None
        interval = self.schedule().interval_minutes * MS_PER_MINUTE
        self._interval = interval
        self._scheduler.every_in_worker(
            self.job,
            interval,
            WorkerTask(self.prepare, run_job, self.apply),
            worker=self._worker,
            delay_ms=interval,
            start_at=start_at,
            catch_up=False,
            on_error=self._failed,
        )
        self._gauge("interval_minutes", interval // MS_PER_MINUTE)

    def _on_policy(self, policy: RLTrainingPolicy) -> None:
        """A new ``rl.v3.training``: a changed interval reschedules from now."""
        scheduler = self._scheduler
        if scheduler is None or policy.interval_minutes * MS_PER_MINUTE == self._interval:
            return
        scheduler.cancel(self.job)
        now = self._now()
        log.info("rl_training.rescheduled", minutes=policy.interval_minutes, at=fmt(now))
        self._count_one("reschedules")
        self._schedule(now + policy.interval_minutes * MS_PER_MINUTE)

    def schedule(self) -> RLTrainingPolicy:
        return self.policies.get(SCHEDULE_KEY, RLTrainingPolicy)

    # --- one run ------------------------------------------------------------------------
    def bootstrap(self, now: int, worker: Worker) -> ModelVersion | None:
        """Train the line's first policy now and wait for it, when it has none that serves;
        else hand the one it has to the app. Returns the version that serves (None: none)."""
        serving = self._not_ahead_of(self.serving_version(), now)
        if serving is not None:
            self._serve(serving)
            return serving
        job = self.prepare(now, episodes=self.config.bootstrap_episodes)
        if job is None:
            return None
        try:
            result = worker.submit(run_job, job).result()
        except Exception as exc:  # the worker's failure: the rules serve, and status says why
            self._failed(WorkerJobError(self.job, now, now, exc))
            return None
        assert result is not None
        return self.apply(result, now)

    def _not_ahead_of(self, version: ModelVersion | None, now: int) -> ModelVersion | None:
        """``version`` unless it was trained after ``now``: a run started again replays from
        its start, and a SHADOW policy an earlier run trained later on would serve (and be
        warm-started from) with what it learned of the candles ahead. That one is retired
        (counted ``looked_ahead_retired``) and None returned, so the line trains its first
        policy afresh. A PRODUCTION one is only warned about (``looked_ahead_production``):
        moving the production pointer back is the operator's call (docs/learning.md)."""
        why = None if version is None else trained_after(version, now)
        if version is None or why is None:
            return version
        if version.stage is not Stage.SHADOW:
            log.warning("rl_training.production_looks_ahead", line=str(self.key), why=why)
            self._count_one("looked_ahead_production")
            return version
        self.registry.retire(
            self.key, version.version, actor=ACTOR, reason=f"{why}: serving it would look ahead"
        )
        self._count_one("looked_ahead_retired")
        return None

    def prepare(self, t: int, *, episodes: int | None = None) -> PolicyJob | None:
        """The next run's inputs (see the module docstring); None: skipped (counted)."""
        cfg = self.config
        schedule = self.schedule()
        if episodes is None and not schedule.enabled:
            self._count_one("runs_skipped_disabled")
            return None
        episodes = schedule.episodes_per_run if episodes is None else episodes
        symbol = cfg.symbols[self.runs % len(cfg.symbols)]
        warm = cfg.env.warm_up_candles
        frame = self.read_candles(symbol, t, warm + cfg.train_candles + cfg.held_out_candles)
        train = frame.iloc[: len(frame) - cfg.held_out_candles].reset_index(drop=True)
        if len(train) < warm + cfg.env.episode_candles + 1:
            self._count_one("runs_skipped_short_history")
            log.info("rl_training.skipped", symbol=symbol, candles=len(frame), at=fmt(t))
            return None
        held_out = frame.iloc[len(train) - warm :].reset_index(drop=True)
        env = replace(cfg.env, symbol=symbol)
        seed = cfg.ppo.seed + self.runs
        ppo = (
            entry_rollouts(cfg.ppo, episodes, seed)
            if cfg.kind == "sizer"
            else episode_rollouts(cfg.ppo, episodes, env.episode_candles, seed)
        )
        request = TrainingRequest(
            env,
            train,
            self.served(symbol),
            ppo,
            tuple(self.funding(symbol)),
            self._warm_state(),
            cfg.kind,
        )
        self.runs += 1
        return PolicyJob(
            request,
            held_out,
            cfg.held_out_candles,
            cfg.name,
            cfg.scope,
            f"{MODULE}:{cfg.run_id}:{self.runs}@{t}",
            cfg.feature_version,
            self.store,
            cfg.periods_per_year,
        )

    def apply(self, result: PolicyJobResult | None, t: int) -> ModelVersion | None:
        """Register, record, move the stage and serve (see the module docstring)."""
        if result is None:
            return None
        held = result.held_out
        version = register_policy(
            self.registry,
            result.digest,
            result.manifest,
            actor=ACTOR,
            # steps, then the episodes that ran to their end: a sizing run's steps are entries
            # and often end before an episode does, though it trained
            reason=f"training run ({result.timesteps} steps, {result.episodes} episodes "
            f"finished): {held.summary()}",
            metrics=held.metrics() | {"timesteps": float(result.timesteps)},
            trained_at=t,
            extra={"state_digest": result.state_digest, "warm_start": result.warm_start},
        )
        self._record(result, version, t)
        if held.beats_rules and self._forward_beats_rules():
            moved = self.registry.promote(
                self.key, version.version, actor=ACTOR, reason=held.summary(), to=Stage.PRODUCTION
            )
            self._count_one("promoted_production")
        else:
            for older in self.registry.versions(self.key):
                if older.stage is Stage.SHADOW:
                    self.registry.retire(
                        self.key, older.version, actor=ACTOR, reason=f"v{version.version} shadows"
                    )
            moved = self.registry.promote(
                self.key,
                version.version,
                actor=ACTOR,
                reason=f"not shown to beat {held.baseline} (held-out, shadow): {held.summary()}",
                to=Stage.SHADOW,
            )
            self._count_one("kept_in_shadow")
        self.last_result = result
        self._count(result, moved)
        self._serve(moved)
        return moved

    # --- helpers ------------------------------------------------------------------------
    @property
    def job(self) -> str:
        """The scheduler job's name: one per policy line."""
        return f"{MODULE}.{self.config.name}"

    def _count_one(self, name: str, n: int = 1) -> None:
        self.handle.count(f"{self.config.counter_prefix}{name}", n)

    def _gauge(self, name: str, value: int) -> None:
        self.handle.gauge(f"{self.config.counter_prefix}{name}", value)

    def _forward_beats_rules(self) -> bool:
        if self.forward is None:
            return False
        low, trades = self.forward()
        return low is not None and low > 0 and trades >= self.config.min_forward_trades

    def serving_version(self) -> ModelVersion | None:
        """The line's PRODUCTION version, else its newest SHADOW one."""
        production = self.registry.production(self.key)
        if production is not None:
            return production
        shadows = [v for v in self.registry.versions(self.key) if v.stage is Stage.SHADOW]
        return shadows[-1] if shadows else None

    def _warm_state(self) -> bytes | None:
        serving = self.serving_version()
        digest = None if serving is None else serving.lineage.detail.get("state_digest")
        if not isinstance(digest, str):
            return None
        return (self.store.open(digest) / STATE_FILE).read_bytes()

    def _serve(self, version: ModelVersion) -> None:
        """Hand ``version``'s policy to the app in its stage; a refused bundle is logged and
        counted, and the line's previous production policy serves in its place when there is
        one (``serving_policy``), else nothing changes (the rules, or the policy serving now,
        go on deciding)."""
        served = serving_policy(self.registry, self.store, version)
        if served.refused is not None:
            log.error(
                "rl_training.policy_refused",
                line=str(self.key),
                refused=served.refused,
                serving=None if served.version is None else served.version.version,
                error=served.refusal,
            )
            self._count_one("policies_refused")
        if served.policy is not None:
            self.on_serving(version.stage, served.policy)

    def _count(self, result: PolicyJobResult, version: ModelVersion) -> None:
        self._count_one("training_runs")
        self._count_one("episodes", result.episodes)
        self._count_one("timesteps", result.timesteps)
        self._count_one("candidates_registered")
        self._gauge("last_version", version.version)
        self._gauge("last_run_seconds", round(result.seconds))
        fraction = result.held_out.mean_fraction
        if fraction is not None:
            self._gauge("last_held_out_mean_fraction_bp", round(fraction * 10_000))
        log.info(
            "rl_training.landed",
            version=version.version,
            stage=str(version.stage),
            episodes=result.episodes,
            held_out=result.held_out.summary(),
        )

    def _record(self, result: PolicyJobResult, version: ModelVersion, t: int) -> None:
        if self.ledger is None:
            return
        manifest, held = result.manifest, result.held_out
        metrics: dict[str, float | int | None] = dict(held.metrics())
        metrics |= {"timesteps": result.timesteps, "episodes": result.episodes}
        self.ledger.record(
            Trial(
                kind=VALIDATION,  # a candidate's judgement before promotion (not in the DSR)
                name=f"{self.key}@v{version.version}",
                config_hash=config_hash(dict(manifest.hyperparameters)),
                code_version=self.code_version,
                symbols=(str(manifest.hyperparameters.get("symbol", "")),),
                timeframe=self.config.env.timeframe,
                data_start=manifest.data_window[0],
                data_end=t,
                seed=manifest.seed,
                metrics=metrics,
                sharpe=held.policy_sharpe,
                periods=max(held.candles - 1, 0),
                recorded_at=t,
                parent=self.config.run_id or None,
            )
        )

    def _failed(self, error: WorkerJobError) -> None:
        self._count_one("runs_failed")
        log.warning("rl_training.failed", error=str(error))


def episode_rollouts(ppo: PpoConfig, episodes: int, candles: int, seed: int) -> PpoConfig:
    """``ppo`` for ``episodes`` whole episodes of ``candles`` decisions: ``min(episodes, 4)``
    environments, one episode each per rollout (rounded up to whole rollouts).

    >>> c = episode_rollouts(PpoConfig(), 2, 720, 7)
    >>> (c.n_envs, c.n_steps, c.total_timesteps, c.batch_size, c.seed)
    (2, 720, 1440, 240, 7)
    """
    envs = min(episodes, 4)
    rollouts = -(-episodes // envs)
    return replace(
        ppo,
        n_envs=envs,
        n_steps=candles,
        total_timesteps=rollouts * envs * candles,
        batch_size=_batch(envs * candles),
        seed=seed,
    )


def _batch(rollout: int) -> int:
    """The largest minibatch of at most 256 that divides the rollout (at least 2)."""
    return next((b for b in range(min(256, rollout), 1, -1) if rollout % b == 0), rollout)


#: a sizing episode's steps are its entries, a few per 720 candles: each run's rollouts are
#: this many entries per environment
ENTRIES_PER_ROLLOUT = 16


def entry_rollouts(ppo: PpoConfig, episodes: int, seed: int) -> PpoConfig:
    """``ppo`` for a sizing run of about ``episodes`` episodes: ``min(episodes, 2)``
    environments, :data:`ENTRIES_PER_ROLLOUT` entries each per rollout, ``episodes``
    rollouts' worth of entries in all.

    >>> c = entry_rollouts(PpoConfig(), 2, 3)
    >>> (c.n_envs, c.n_steps, c.total_timesteps, c.batch_size, c.seed)
    (2, 16, 64, 32, 3)
    """
    envs = min(episodes, 2)
    return replace(
        ppo,
        n_envs=envs,
        n_steps=ENTRIES_PER_ROLLOUT,
        total_timesteps=episodes * envs * ENTRIES_PER_ROLLOUT,
        batch_size=envs * ENTRIES_PER_ROLLOUT,
        seed=seed,
    )
