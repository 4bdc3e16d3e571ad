"""A learning daemon serving one forecaster line on a short synthetic market, small enough to
train N-HiTS for one epoch in seconds; shared by the tests and their subprocess script."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.clock.worker_jobs import Worker
from quantum_trader.data.synthetic import SyntheticConfig, generate_market
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR
from quantum_trader.features.dataset import Dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.learning.daemon import Candidate, LearningConfig, LearningDaemon
from quantum_trader.learning.forecaster_lines import ForecasterConfig, ReadCloses
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.learning.trainers import (
    Closes,
    FitOptions,
    TrainingWindow,
    fit_in_this_process,
)
from quantum_trader.learning.triggers import Trigger, TriggerInbox, TriggerKind

TF = MS_PER_HOUR
LABELS = LabelSpec(horizon=4, dead_zone=0.001)
START = SyntheticConfig().start
KEY = ModelKey("nhits", "global", 4)
VALIDATION_ROWS = 120  # per symbol: the gate's 200 rows are reached with two symbols
STARTED = START + 35 * MS_PER_DAY


def market() -> dict[str, pd.DataFrame]:
    series = generate_market(SyntheticConfig(seed=3, candles=24 * 60), ["BTCUSDT", "ETHUSDT"])
    return {s.symbol: s.frame for s in series}


def closes_reader(frames: dict[str, pd.DataFrame], reads: list[int] | None = None) -> ReadCloses:
    """Every candle of ``symbol`` opening at or after ``first`` and closed by ``until``."""

    def read(symbol: str, first: int, until: int) -> Closes:
        if reads is not None:
            reads.append(until)
        frame = frames[symbol]
        kept = frame[(frame["open_time"] >= first) & (frame["open_time"] + TF <= until)]
        return Closes(
            symbol, kept["open_time"].to_numpy(np.int64), kept["close"].to_numpy(np.float64)
        )

    return read


def _no_tabular_line(symbol: str, first: int, until: int) -> Dataset:
    raise AssertionError(f"the rig serves no tabular line, yet {symbol} was read")


class ForecasterRig:
    def __init__(
        self,
        engine: Engine,
        tmp: Path,
        frames: dict[str, pd.DataFrame],
        worker: Worker,
        *,
        warm_start: bool = False,
        read: ReadCloses | None = None,
    ) -> None:
        self.clock = SimulatedClock(START)
        self.scheduler = Scheduler(self.clock)
        self.registry = ModelRegistry(SqlRegistryRepository(engine), self.clock)
        self.store = LocalArtifactStore(tmp / "artifacts")
        self.frames = frames
        self.candidates: list[Candidate] = []
        self.reads: list[int] = []
        self.inbox = TriggerInbox()
        config = LearningConfig(
            horizon=4,
            timeframe_ms=TF,
            check_ms=6 * MS_PER_HOUR,
            schedule_ms=None,
            train_ms=30 * MS_PER_DAY,
            validation_rows=VALIDATION_ROWS,
            seed=1,
        )
        symbols = tuple(sorted(frames))
        forecasters = ForecasterConfig(
            LABELS, symbols, "1h", epochs=1, warm_start=warm_start, warm_epochs=1
        )
        self.daemon = LearningDaemon(
            config,
            [KEY],
            _no_tabular_line,
            self.store,
            self.registry,
            self.candidates.append,
            inbox=self.inbox,
            started_at=STARTED,
            forecasters=(forecasters, read or closes_reader(frames, self.reads)),
        )
        self.worker = worker
        self.daemon.start(self.scheduler, worker, STARTED)

    def bootstrap(self, until: int) -> int:
        """A PRODUCTION version fitted on the closes up to ``until``; returns its version."""
        read = closes_reader(self.frames)
        closes = tuple(read(s, until - 30 * MS_PER_DAY, until) for s in sorted(self.frames))
        window = TrainingWindow(closes=closes, labels=LABELS, scope="global")
        fitted = fit_in_this_process("nhits", window, FitOptions(seed=2, epochs=1), self.store)
        version = self.registry.register(fitted.metadata, fitted.digest, actor="t", reason="t")
        self.registry.promote(KEY, version.version, actor="t", reason="t", to=Stage.PRODUCTION)
        return version.version

    def drift(self, symbol: str) -> int:
        at = self.clock.now()
        self.inbox.add(Trigger(TriggerKind.DRIFT, "nhits", symbol, at, "test"))
        return at

    def run_until(self, end: int) -> None:
        t = self.clock.now()
        while t < end:
            t = min(end, t + TF)
            self.clock.advance_to(t)
            self.scheduler.run_due(t)
