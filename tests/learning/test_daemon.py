"""The learning daemon (issue 17 item 1): triggers, the training cut-off, trainings in a worker
on the engine clock, candidates registered and handed on, state kept across a restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pytest
import structlog.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.training import training_dataset
from quantum_trader.bus import topics
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.bus.typed import publish_event
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.clock.worker_group import WorkerGroup
from quantum_trader.clock.workers import ThreadWorker
from quantum_trader.data.synthetic import SyntheticConfig, generate_market
from quantum_trader.domain.errors import LookAheadError
from quantum_trader.domain.events import DriftDetected
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR
from quantum_trader.features.dataset import Dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.learning.daemon import Candidate, LearningConfig, LearningDaemon
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.learning.triggers import Trigger, TriggerInbox, TriggerKind, training_rows
from quantum_trader.status.registry import StatusRegistry
from tests.models.conftest import FAST

In = TypeVar("In")
R = TypeVar("R")

TF = MS_PER_HOUR
LABELS = LabelSpec(horizon=4, dead_zone=0.001)
START = SyntheticConfig().start


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    market = generate_market(SyntheticConfig(seed=3, candles=24 * 120), ["BTCUSDT", "ETHUSDT"])
    return {s.symbol: s.frame for s in market}


def _reader(frames: dict[str, pd.DataFrame], reads: list[tuple[str, int]] | None = None):  # type: ignore[no-untyped-def]
    def read(symbol: str, first: int, until: int) -> Dataset:
        if reads is not None:
            reads.append((symbol, until))
        frame = frames[symbol]
        closes = frame["open_time"] + TF
        window = frame[(frame["open_time"] >= first) & (closes <= until)].reset_index(drop=True)
        return training_dataset(symbol, "1h", window, None, None, LABELS)

    return read


class Rig:
    def __init__(
        self, engine: Engine, tmp: Path, frames: dict[str, pd.DataFrame], **overrides: object
    ) -> None:
        self.clock = SimulatedClock(START)
        self.scheduler = Scheduler(self.clock)
        self.bus = InProcessBus(self.clock)
        self.registry = ModelRegistry(SqlRegistryRepository(engine), self.clock)
        self.candidates: list[Candidate] = []
        self.reads: list[tuple[str, int]] = []
        config = LearningConfig(
            horizon=4,
            timeframe_ms=TF,
            check_ms=6 * MS_PER_HOUR,
            schedule_ms=overrides.pop("schedule_ms", 7 * MS_PER_DAY),  # type: ignore[arg-type]
            train_ms=40 * MS_PER_DAY,
            validation_rows=120,
            fit_params=FAST,
        )
        self.lines = [ModelKey("xgb", s, 4) for s in sorted(frames)]
        self.inbox = TriggerInbox(self.bus)
        worker = overrides.pop("worker", None)
        store = overrides.pop("store", None) or LocalArtifactStore(tmp / "artifacts")
        self.daemon = LearningDaemon(
            config,
            self.lines,
            _reader(frames, self.reads),
            store,  # type: ignore[arg-type]
            self.registry,
            self.candidates.append,
            inbox=self.inbox,
            started_at=START + 60 * MS_PER_DAY,
            **overrides,  # type: ignore[arg-type]
        )
        self.worker: ThreadWorker = worker or ThreadWorker("learning")  # type: ignore[assignment]
        self.daemon.start(self.scheduler, self.worker, START + 60 * MS_PER_DAY)

    def run_until(self, end: int) -> None:
        t = self.clock.now()
        while t < end:
            t = min(end, t + TF)
            self.clock.advance_to(t)
            self.scheduler.run_due(t)


def test_the_schedule_retrains_every_line_each_week(
    db_engine: Engine, tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    rig = Rig(db_engine, tmp_path, frames)
    rig.run_until(START + 75 * MS_PER_DAY)
    when = sorted({c.trigger.at for c in rig.candidates})
    assert when == [START + 67 * MS_PER_DAY, START + 74 * MS_PER_DAY]
    assert len(rig.candidates) == 4 and {c.trigger.kind for c in rig.candidates} == {
        TriggerKind.SCHEDULE
    }
    for candidate in rig.candidates:
        version = candidate.version
        assert version.stage is Stage.CANDIDATE
        history = rig.registry.history(version.key)
        assert history[-1].actor == "rule:continuous-learning"
        assert "SCHEDULE" in history[-1].reason
        # the gate's rows come after every row fitted, purged by the horizon
        window = version.lineage.window
        assert window is not None
        assert candidate.validation.open_time[0] > window[1] + 4 * TF
        # and every label fitted or held out was known at the trigger's engine time
        assert window[1] + 5 * TF <= candidate.trigger.at
        held = candidate.validation
        assert (held.open_time[~np.isnan(held.y)] + 5 * TF <= candidate.trigger.at).all()
    worker_jobs = rig.scheduler.jobs["continuous_learning.check"].worker
    assert worker_jobs is not None and worker_jobs.stats.landed >= 2
    rig.worker.shutdown()


def test_a_drift_event_trains_its_line_once(
    db_engine: Engine, tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    rig = Rig(db_engine, tmp_path, frames, schedule_ms=None)
    rig.run_until(START + 62 * MS_PER_DAY)
    for offset in (0, 2):  # two alarms within the minimum gap: one training
        at = rig.clock.now() + offset * MS_PER_HOUR
        event = DriftDetected(
            "xgb", "SYNETHUSDT", "cusum", "mean_up", 9.0, 5.0, 50, 60, 1.0, 0.1, at, at - 5 * TF
        )
        publish_event(rig.bus, topics.MODEL_DRIFT_DETECTED, event, source="test")
        rig.run_until(at + 3 * MS_PER_HOUR)
    rig.run_until(START + 64 * MS_PER_DAY)
    assert [(c.version.key.scope, c.trigger.kind) for c in rig.candidates] == [
        ("SYNETHUSDT", TriggerKind.DRIFT)
    ]
    # every read stopped at the trigger's engine time
    assert all(until <= START + 64 * MS_PER_DAY for _symbol, until in rig.reads)
    rig.worker.shutdown()


def test_decay_triggers_a_training(
    db_engine: Engine, tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    decayed: list[str] = []
    rig = Rig(db_engine, tmp_path, frames, schedule_ms=None, decayed=lambda: decayed)
    rig.run_until(START + 62 * MS_PER_DAY)
    assert rig.candidates == []
    decayed.append("xgb/SYNBTCUSDT/h4")
    rig.run_until(START + 63 * MS_PER_DAY)
    assert [c.trigger.kind for c in rig.candidates][:1] == [TriggerKind.DECAY]
    rig.worker.shutdown()


def test_alarms_of_one_line_within_a_check_ask_for_one_training(
    db_engine: Engine, tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    handle = StatusRegistry(SimulatedClock(0)).register(
        "continuous_learning", enabled=True, reason="test"
    )
    rig = Rig(db_engine, tmp_path, frames, schedule_ms=None, handle=handle)
    rig.run_until(START + 62 * MS_PER_DAY)
    at = rig.clock.now()
    drift = DriftDetected(
        "xgb", "SYNBTCUSDT", "cusum", "mean_up", 9.0, 5.0, 50, 60, 1.0, 0.1, at, at - 5 * TF
    )
    publish_event(rig.bus, topics.MODEL_DRIFT_DETECTED, drift, source="test")
    rig.inbox.add(Trigger(TriggerKind.COVARIATE_SHIFT, "xgb", "SYNBTCUSDT", at, "rsi shifted"))
    rig.run_until(START + 64 * MS_PER_DAY)
    assert [(c.version.key.scope, c.trigger.kind) for c in rig.candidates] == [
        ("SYNBTCUSDT", TriggerKind.DRIFT)
    ]
    counters = handle.status.counters
    assert {k: counters.get(k) for k in ("triggers_drift", "triggers_covariate_shift")} == {
        "triggers_drift": 1,
        "triggers_covariate_shift": 1,
    }
    assert (counters["triggers_merged"], counters["trainings_started"]) == (1, 1)
    assert counters["trainings_finished"] == 1 and "trainings_failed" not in counters
    rig.worker.shutdown()


class FullStore(LocalArtifactStore):
    def put(self, write: Callable[[Path], object]) -> str:
        raise OSError("no space left on device")


def test_a_failed_training_is_counted_and_registers_nothing(
    db_engine: Engine, tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    handle = StatusRegistry(SimulatedClock(0)).register(
        "continuous_learning", enabled=True, reason="test"
    )
    rig = Rig(db_engine, tmp_path, frames, handle=handle, store=FullStore(tmp_path / "full"))
    with structlog.testing.capture_logs() as logs:
        rig.run_until(START + 68 * MS_PER_DAY)
    assert rig.candidates == [] and all(rig.registry.history(k) == [] for k in rig.lines)
    # and said why, line by line, where the operator reads
    failed = [e for e in logs if e["event"] == "learning.training_failed"]
    assert sorted(e["line"] for e in failed) == sorted(str(k) for k in rig.lines)
    assert all("no space left on device" in e["error"] for e in failed)
    counters = handle.status.counters
    assert (counters["trainings_started"], counters["trainings_failed"]) == (2, 2)
    assert "trainings_finished" not in counters
    rig.worker.shutdown()


def test_the_daemon_remembers_across_a_restart(
    db_engine: Engine, tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    rig = Rig(db_engine, tmp_path, frames)
    rig.run_until(START + 68 * MS_PER_DAY)
    # a trigger waiting for the next check when the engine stops
    rig.daemon._inbox.add(Trigger(TriggerKind.DRIFT, "xgb", "SYNBTCUSDT", rig.clock.now(), "t"))
    rig.daemon._collect(rig.clock.now())
    saved = rig.daemon.to_state()
    again = Rig(db_engine, tmp_path / "again", frames)
    again.daemon.load_state(saved)
    assert again.daemon.to_state() == saved
    assert list(again.daemon.waiting()) == ["xgb/SYNBTCUSDT/h4"]
    rig.worker.shutdown()
    again.worker.shutdown()


def test_a_reader_that_reads_past_the_trigger_is_refused(frames: dict[str, pd.DataFrame]) -> None:
    read = _reader(frames)
    at = START + 30 * MS_PER_DAY
    too_far = read("SYNBTCUSDT", START, at + 10 * TF)
    with pytest.raises(LookAheadError, match="label known only at"):
        training_rows(too_far, at, TF)
    assert training_rows(read("SYNBTCUSDT", START, at), at, TF) is not None


@settings(max_examples=60, deadline=None)
@given(
    candles=st.integers(20, 400),
    horizon=st.integers(1, 12),
    timeframe=st.sampled_from([5 * 60_000, 15 * 60_000, TF, 4 * TF]),
    cut=st.integers(0, 420),
)
def test_property_no_fitted_label_ends_after_the_trigger(
    candles: int, horizon: int, timeframe: int, cut: int
) -> None:
    """A dataset of ``candles`` rows labelled as the label rule does (row i has a label when
    candle i + horizon exists), and a trigger after candle ``cut`` closed: training_rows either
    refuses it, or every labelled row's label window closed by the trigger."""
    open_time = START + timeframe * np.arange(candles, dtype=np.int64)
    y = np.where(np.arange(candles) + horizon < candles, 1.0, np.nan)
    data = Dataset(
        "BTCUSDT", "x", ("f",), open_time, np.zeros((candles, 1)), y, np.zeros(candles),
        LabelSpec(horizon=horizon),
    )  # fmt: skip
    trigger = START + timeframe * (cut + 1)
    try:
        kept = training_rows(data, trigger, timeframe)
    except LookAheadError:
        # refused exactly when the data holds candles that closed after the trigger
        assert candles > cut + 1
        return
    labelled = ~np.isnan(kept.y)
    assert (kept.open_time[labelled] + (horizon + 1) * timeframe <= trigger).all()
    assert not (candles > cut + 1 and candles > horizon), "a late label was let through"


def test_a_restart_reads_the_saved_state_from_the_repository(
    db_engine: Engine, tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    """Stopped after its weekly training with a drift alarm waiting: the restarted daemon
    trains that alarm once the minimum gap has passed, and keeps the schedule's date (a fresh
    one would retrain both lines on the schedule instead)."""
    repo = SqlIntelligenceStateRepository(db_engine)
    first = Rig(db_engine, tmp_path, frames, repository=repo)
    first.run_until(START + 67 * MS_PER_DAY + 6 * MS_PER_HOUR)  # the schedule's trainings land
    assert len(first.candidates) == 2
    first.inbox.add(Trigger(TriggerKind.DRIFT, "xgb", "SYNBTCUSDT", first.clock.now(), "t"))
    first.run_until(START + 67 * MS_PER_DAY + 13 * MS_PER_HOUR)  # collected, within the gap
    saved = first.daemon.to_state()
    first.worker.shutdown()
    assert saved["xgb/SYNBTCUSDT/h4"]["waiting"]

    again = Rig(db_engine, tmp_path / "again", frames, repository=repo)
    assert again.daemon.restore() and again.daemon.to_state() == saved
    again.run_until(START + 70 * MS_PER_DAY)
    assert [(c.version.key.scope, c.trigger.kind) for c in again.candidates] == [
        ("SYNBTCUSDT", TriggerKind.DRIFT)
    ]
    assert again.candidates[0].version.lineage.window is not None
    again.worker.shutdown()
    fresh = Rig(db_engine, tmp_path / "fresh", frames)
    with pytest.raises(RuntimeError, match="no state repository"):
        fresh.daemon.restore()
    fresh.worker.shutdown()


def test_a_training_in_flight_when_the_process_dies_is_trained_again_after_restart(
    db_engine: Engine, tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    """The weekly trainings started at day 67 and the process died before they landed (the
    landing is one check later): the restarted daemon trains both again at its first check,
    with the schedule's triggers, and registers each once."""
    repo = SqlIntelligenceStateRepository(db_engine)
    first = Rig(db_engine, tmp_path, frames, repository=repo)
    first.run_until(START + 67 * MS_PER_DAY + MS_PER_HOUR)  # started, not landed
    assert first.candidates == []
    saved = first.daemon.to_state()
    assert all(saved[str(k)]["in_flight"] is not None for k in first.lines)
    first.worker.shutdown()  # what it computed is lost with the process

    again = Rig(db_engine, tmp_path / "again", frames, repository=repo)
    assert again.daemon.restore()
    assert sorted(again.daemon.waiting()) == sorted(str(k) for k in again.lines)
    # (the rig's clock starts again at its beginning, day 60, the line's training before the
    # lost one: the retry waits out the minimum gap of a day and lands one check later)
    again.run_until(START + 61 * MS_PER_DAY + 12 * MS_PER_HOUR)
    assert sorted((c.version.key.scope, c.trigger.kind) for c in again.candidates) == [
        ("SYNBTCUSDT", TriggerKind.SCHEDULE),
        ("SYNETHUSDT", TriggerKind.SCHEDULE),
    ]
    # landed and saved: nothing in flight, nothing waiting, so a second restart trains nothing
    landed = again.daemon.to_state()
    assert all(v["in_flight"] is None and not v["waiting"] for v in landed.values())
    again.worker.shutdown()
    third = Rig(db_engine, tmp_path / "third", frames, repository=repo)
    assert third.daemon.restore() and third.daemon.waiting() == {}
    third.worker.shutdown()


class SlowWorker(ThreadWorker):
    """A worker whose fits take wall time: the replay must not notice."""

    def submit(self, fn: Callable[[In], R], arg: In) -> Future[R]:
        def slow(value: In) -> R:
            time.sleep(0.5)
            return fn(value)

        return super().submit(slow, arg)


def _history(rig: Rig) -> list[tuple[object, ...]]:
    return [
        (c.key, c.version, c.to_stage, c.at, c.actor, c.reason)
        for key in rig.lines
        for c in rig.registry.history(key)
    ]


def test_a_replay_lands_the_same_trainings_at_the_same_engine_times(
    sqlite_engine: Engine, tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    """The fit runs in the worker; however long it takes, a replay registers its candidate at
    the landing time (one check after the trigger), so two replays write the same history."""
    fast = Rig(sqlite_engine, tmp_path / "fast", frames)
    fast.run_until(START + 68 * MS_PER_DAY)
    other = open_database(f"sqlite:///{tmp_path / 'slow.sqlite'}")
    slow = Rig(other, tmp_path / "slow", frames, worker=SlowWorker("learning"))
    slow.run_until(START + 68 * MS_PER_DAY)
    assert _history(fast) == _history(slow) and len(_history(fast)) == 2
    landed = {c.at for key in fast.lines for c in fast.registry.history(key)}
    assert landed == {START + 67 * MS_PER_DAY + 6 * MS_PER_HOUR}  # trigger + check_ms
    assert [c.version.artifact_hash for c in fast.candidates] == [
        c.version.artifact_hash for c in slow.candidates
    ]
    for rig in (fast, slow):
        rig.worker.shutdown()
    other.dispose()


def test_a_check_fitted_side_by_side_in_two_processes_registers_the_same_candidates(
    sqlite_engine: Engine, tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    """The weekly schedule asks for every line at one check; a worker group fits them in its
    two processes at once (``QT_TRAINING_PROCESSES``): the same history, the same artifacts,
    in the lines' order, as one thread fitting them one after the other."""
    one = Rig(sqlite_engine, tmp_path / "one", frames)
    one.run_until(START + 68 * MS_PER_DAY)
    other = open_database(f"sqlite:///{tmp_path / 'two.sqlite'}")
    group = WorkerGroup("learning", 2)
    group.start()
    two = Rig(other, tmp_path / "two", frames, worker=group)
    two.run_until(START + 68 * MS_PER_DAY)
    assert _history(one) == _history(two) and len(_history(one)) == 2
    assert [c.version.artifact_hash for c in one.candidates] == [
        c.version.artifact_hash for c in two.candidates
    ]
    assert [c.version.key for c in two.candidates] == one.lines
    for rig in (one, two):
        rig.worker.shutdown()
    other.dispose()
