"""The learning daemon (issue 17 item 1): triggers, the training cut-off, trainings in a worker
on the engine clock, candidates registered and handed on, state kept across a restart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.training import training_dataset
from quantum_trader.bus import topics
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.bus.typed import publish_event
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
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
from tests.models.conftest import FAST

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
        self.daemon = LearningDaemon(
            config,
            self.lines,
            _reader(frames, self.reads),
            LocalArtifactStore(tmp / "artifacts"),
            self.registry,
            self.candidates.append,
            inbox=TriggerInbox(self.bus),
            started_at=START + 60 * MS_PER_DAY,
            **overrides,  # type: ignore[arg-type]
        )
        self.worker = ThreadWorker("learning")
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
