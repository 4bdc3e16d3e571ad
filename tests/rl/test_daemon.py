"""Module 16's daemon and its worker job: a run trains, judges on the held-out window, exports a
bundle that serves, registers and moves the stage; the schedule is the policy store's, live."""

from __future__ import annotations

import dataclasses
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.repositories import SqlPolicyRepository
from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import load_bundle
from quantum_trader.agents.rl_sizer import FRACTION_ACTIONS, RLSizer
from quantum_trader.agents.sizing_observation import SIZING_OBSERVATION_VERSION, sizing_observation
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.bus.policy_store import PolicyStore
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.clock.workers import ThreadWorker
from quantum_trader.domain.time import MS_PER_HOUR, MS_PER_MINUTE
from quantum_trader.evaluation.ledger import Trial
from quantum_trader.learning.registry import ModelRegistry, Stage
from quantum_trader.models.ensemble.member import Member
from quantum_trader.rl.daemon import (
    SCHEDULE_KEY,
    PolicyTrainer,
    PolicyTrainingConfig,
    entry_rollouts,
)
from quantum_trader.rl.jobs import STATE_FILE, PolicyJob, train_policy_job
from quantum_trader.rl.ppo import PpoConfig, TrainingRequest
from quantum_trader.status.registry import ModuleHandle, StatusRegistry
from tests.rl.helpers import TRAIN_CANDLES, env_config, market, members

SMALL = PpoConfig(total_timesteps=128, n_envs=2, n_steps=64, batch_size=64, n_epochs=1, seed=3)
EPISODE, HELD_OUT = 72, 150


def _frame() -> pd.DataFrame:
    return market().iloc[TRAIN_CANDLES:].reset_index(drop=True)


def test_a_run_trains_judges_on_held_out_candles_and_exports_a_bundle_that_serves(
    tmp_path: Path,
) -> None:
    frame = _frame()
    config = env_config(episode_candles=EPISODE)
    held_start = len(frame) - HELD_OUT
    train = frame.iloc[:held_start].reset_index(drop=True)
    held = frame.iloc[held_start - config.warm_up_candles :].reset_index(drop=True)
    store = LocalArtifactStore(tmp_path / "artifacts")
    job = PolicyJob(
        TrainingRequest(config, train, members, SMALL),
        held,
        HELD_OUT,
        "ppo_selector",
        "global",
        "trial-1",
        "feat-1",
        store,
        24 * 365,
    )
    result = train_policy_job(job)
    assert result.timesteps >= SMALL.total_timesteps and not result.warm_start
    # the data window is the training window's: the held-out candles were never trained on
    assert result.manifest.data_window[1] < int(frame["open_time"].iloc[held_start])
    held_out = result.held_out
    assert held_out.candles >= HELD_OUT - 2 and held_out.rules_trades + held_out.policy_trades >= 1
    assert np.isfinite([held_out.policy_return, held_out.rules_return]).all()
    policy = OnnxPolicy(load_bundle(store, result.digest))
    assert policy.actions == ("TrendFollowing", "MeanReversion", "Breakout", "Neutral")
    assert (store.open(result.state_digest) / STATE_FILE).stat().st_size > 0
    # the result comes back to the serving process: unpickling it must not import torch (a
    # TorchVersion in the manifest's libraries did)
    assert b"torch.torch_version" not in pickle.dumps(result)
    # the rules' held-out figure is the rule selector's own replay of those candles: a second
    # judgement with another policy gives the same rules figure
    again = train_policy_job(dataclasses.replace(job, request=dataclasses.replace(
        job.request, ppo=dataclasses.replace(SMALL, seed=4))))  # fmt: skip
    assert again.held_out.rules_return == held_out.rules_return
    assert again.digest != result.digest


def test_a_sizing_run_is_judged_against_the_whole_base_size(tmp_path: Path) -> None:
    frame = _frame()
    config = env_config(episode_candles=EPISODE * 4)
    held_start = len(frame) - HELD_OUT
    store = LocalArtifactStore(tmp_path / "artifacts")
    job = PolicyJob(
        TrainingRequest(
            config,
            frame.iloc[:held_start].reset_index(drop=True),
            members,
            entry_rollouts(SMALL, 2, 3),
            kind="sizer",
        ),
        frame.iloc[held_start - config.warm_up_candles :].reset_index(drop=True),
        HELD_OUT,
        "rl_sizer",
        "global",
        "trial-s",
        "feat-1",
        store,
        24 * 365,
    )
    result = train_policy_job(job)
    assert result.manifest.actions == FRACTION_ACTIONS
    assert result.manifest.observation_version == SIZING_OBSERVATION_VERSION
    held = result.held_out
    assert held.baseline == "fixed_fractional" and "vs fixed_fractional" in held.summary()
    assert held.mean_fraction is None or 0.0 <= held.mean_fraction <= 1.0
    # the bundle serves as the RL sizer's policy
    RLSizer(OnnxPolicy(load_bundle(store, result.digest)), sizing_observation)


class _Served:
    def __init__(self) -> None:
        self.calls: list[tuple[Stage, str]] = []

    def __call__(self, stage: Stage, policy: OnnxPolicy) -> None:
        self.calls.append((stage, policy.version))


class _Ledger:
    def __init__(self) -> None:
        self.recorded: list[Trial] = []

    def record(self, trial: Trial) -> int:
        self.recorded.append(trial)
        return len(self.recorded)

    def trials(self, kind: str | None = None, *, limit: int | None = None) -> list[Trial]:
        return self.recorded


def _trainer(
    sqlite_engine: Engine, tmp_path: Path, clock: SimulatedClock
) -> tuple[PolicyTrainer, PolicyStore, _Served, _Ledger, ModuleHandle]:
    frame = _frame()
    times = frame["open_time"].to_numpy()

    def read(symbol: str, t: int, count: int) -> pd.DataFrame:
        assert symbol == "SYNBTCUSDT"
        closed = frame[times + MS_PER_HOUR <= t]  # candles closing at or before t
        return closed.tail(count).reset_index(drop=True)

    bus = InProcessBus(clock)
    policies = PolicyStore(SqlPolicyRepository(sqlite_engine), bus, clock)
    registry = ModelRegistry(SqlRegistryRepository(sqlite_engine), clock)
    served, ledger = _Served(), _Ledger()
    handle = StatusRegistry(clock).register("rl_v3_training", enabled=True, reason="test")
    config = PolicyTrainingConfig(
        ("SYNBTCUSDT",),
        env_config(episode_candles=EPISODE),
        SMALL,
        24 * 365,
        "feat-1",
        train_candles=EPISODE * 3,
        held_out_candles=HELD_OUT,
        bootstrap_episodes=2,
    )
    trainer = PolicyTrainer(
        config,
        registry=registry,
        store=LocalArtifactStore(tmp_path / "artifacts"),
        policies=policies,
        read_candles=read,
        served=lambda _symbol: members,
        funding=lambda _symbol: (),
        handle=handle,
        on_serving=served,
        code_version="test",
        ledger=ledger,
    )
    return trainer, policies, served, ledger, handle


def test_the_daemon_bootstraps_then_runs_on_the_policy_stores_schedule(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    frame = _frame()
    start = int(frame["open_time"].iloc[700])
    clock = SimulatedClock(start)
    trainer, policies, served, ledger, handle = _trainer(sqlite_engine, tmp_path, clock)
    worker = ThreadWorker("rl")
    try:
        first = trainer.bootstrap(start, worker)
        assert first is not None and first.version == 1
        assert first.stage in (Stage.SHADOW, Stage.PRODUCTION)
        assert served.calls == [(first.stage, "ppo_selector@1")]
        assert len(ledger.recorded) == 1 and ledger.recorded[0].kind == "validation"
        assert first.lineage.detail["warm_start"] is False
        registered = trainer.registry.history(trainer.key)[0].reason
        steps = int(first.lineage.metrics["timesteps"])
        assert registered.startswith(f"training run ({steps} steps, "), registered
        assert re.match(r"training run \(\d+ steps, \d+ episodes finished\): ", registered)
        # reuse: a line that has a serving version trains nothing at the next bootstrap
        assert trainer.bootstrap(start, worker) == first
        assert handle.status.counters["training_runs"] == 1

        policies.set(SCHEDULE_KEY, {"interval_minutes": 120, "episodes_per_run": 1}, by="test")
        scheduler = Scheduler(clock)
        trainer.start(scheduler, worker, clock.now, start_at=start + 2 * MS_PER_HOUR)
        for hour in range(1, 8):  # runs at +2 h, +4 h, +6 h; each lands 2 h later
            clock.advance_to(start + hour * MS_PER_HOUR)
            scheduler.run_due(clock.now())
        versions = trainer.registry.versions(trainer.key)
        assert [v.version for v in versions] == [1, 2, 3]  # two landed (+4 h, +6 h)
        assert versions[-1].lineage.detail["warm_start"] is True  # continued the serving one
        assert len([v for v in versions if v.stage is Stage.SHADOW]) <= 1
        assert handle.status.counters["training_runs"] == 3
        # the policy store is followed live: disabled skips the runs, counted
        policies.set(SCHEDULE_KEY, {"enabled": False, "interval_minutes": 120}, by="test")
        for hour in range(8, 14):
            clock.advance_to(start + hour * MS_PER_HOUR)
            scheduler.run_due(clock.now())
        assert handle.status.counters["runs_skipped_disabled"] >= 2
        assert handle.status.counters["training_runs"] == 4  # only the one in flight landed
        # a new interval reschedules from now
        policies.set(SCHEDULE_KEY, {"enabled": True, "interval_minutes": 60}, by="test")
        assert handle.status.counters["reschedules"] == 1
        assert handle.status.counters["interval_minutes"] == 60
    finally:
        worker.shutdown()


def test_a_shadow_policy_trained_after_the_replays_start_is_retired_not_served(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """A run started again replays from its start: the SHADOW policy an earlier run trained
    later on is not served (nor warm-started from) there; the line trains a first one anew."""
    frame = _frame()
    start, later = int(frame["open_time"].iloc[700]), int(frame["open_time"].iloc[760])
    clock = SimulatedClock(later)
    trainer, _policies, served, _ledger, handle = _trainer(sqlite_engine, tmp_path, clock)
    worker = ThreadWorker("rl")
    try:
        ahead = trainer.bootstrap(later, worker)
        assert ahead is not None and ahead.lineage.trained_at == later
        assert ahead.stage is Stage.SHADOW  # on this seed's toy market it does not beat the rules
        again = trainer.bootstrap(start, worker)
        assert again is not None and again.version == 2 and again.lineage.trained_at == start
        assert again.lineage.detail["warm_start"] is False
        retired = trainer.registry.get(trainer.key, 1)
        assert retired.stage is Stage.RETIRED
        reasons = [c.reason for c in trainer.registry.history(trainer.key) if c.version == 1]
        assert "after this replay's start" in reasons[-1]
        assert handle.status.counters["looked_ahead_retired"] == 1
        assert served.calls[-1] == (again.stage, "ppo_selector@2")
        assert trainer.bootstrap(later, worker) == again  # trained before later: kept
    finally:
        worker.shutdown()


def test_a_short_history_is_skipped_and_a_failed_run_is_counted(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    frame = _frame()
    start = int(frame["open_time"].iloc[400])  # fewer candles than warm-up + train window
    clock = SimulatedClock(start)
    trainer, _policies, served, _ledger, handle = _trainer(sqlite_engine, tmp_path, clock)
    worker = ThreadWorker("rl")
    try:
        assert trainer.bootstrap(start, worker) is None
        assert handle.status.counters["runs_skipped_short_history"] == 1
        later = int(frame["open_time"].iloc[700])
        trainer.served = lambda _s: _raise
        assert trainer.bootstrap(later, worker) is None
        assert handle.status.counters["runs_failed"] == 1 and served.calls == []
    finally:
        worker.shutdown()


def _raise() -> list[Member]:
    raise RuntimeError("members cannot load")


def test_the_default_schedule_is_the_issues() -> None:
    from quantum_trader.bus.policy_store import RLTrainingPolicy

    default = RLTrainingPolicy()
    assert (default.enabled, default.interval_minutes, default.episodes_per_run) == (True, 30, 2)
    assert 30 * MS_PER_MINUTE == 1_800_000


@pytest.mark.parametrize("bad", [{"train_candles": 10}, {"held_out_candles": 1}])
def test_bad_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="PolicyTrainingConfig"):
        PolicyTrainingConfig(("X",), env_config(episode_candles=EPISODE), SMALL, 1.0, "f", **bad)
