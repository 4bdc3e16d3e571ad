"""The learning daemon retrains the global forecaster lines (issue 17 item 1): in its worker
process (never in the serving one), on closes known at the trigger, with rows held out that
the gate can judge, and optionally from the production weights (warm start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.clock.workers import ThreadWorker
from quantum_trader.domain.errors import LookAheadError
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR
from quantum_trader.learning.forecaster_lines import ForecasterConfig, forecaster_job
from quantum_trader.learning.gate import ValidationGate
from quantum_trader.learning.registry import ModelKey, ModelVersion, Stage
from quantum_trader.learning.trainers import (
    Closes,
    FitOptions,
    TrainingWindow,
    WarmStart,
    fit_in_this_process,
)
from quantum_trader.models.ensemble.member import Member
from quantum_trader.models.forecasting.member import forecast_loader
from tests.learning.forecaster_rig import (
    KEY,
    LABELS,
    START,
    TF,
    VALIDATION_ROWS,
    ForecasterRig,
    closes_reader,
    market,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return market()


def test_a_drift_alarm_registers_a_forecaster_candidate_on_closes_known_at_the_trigger(
    sqlite_engine: Engine, tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    rig = ForecasterRig(sqlite_engine, tmp_path, frames, ThreadWorker("learning"))
    rig.run_until(START + 36 * MS_PER_DAY)
    at = rig.drift("SYNETHUSDT")  # an alarm of one symbol retrains the global line
    rig.run_until(at + 13 * MS_PER_HOUR)
    rig.worker.shutdown()
    (candidate,) = rig.candidates
    version = candidate.version
    assert (version.key, version.stage, candidate.trigger.at) == (KEY, Stage.CANDIDATE, at)
    assert "DRIFT of nhits/SYNETHUSDT" in rig.registry.history(KEY)[-1].reason
    assert version.lineage.parameters["warm_start"] is None  # no production to start from
    # the check that collected the alarm started the training; it landed one check later
    started = version.created_at - 6 * MS_PER_HOUR
    assert at < started <= at + 6 * MS_PER_HOUR
    # nothing read, fitted or held out closed after the training started
    assert rig.reads and max(rig.reads) <= started
    window = version.lineage.window
    assert window is not None and window[1] + 5 * TF <= started
    # the gate's rows: the newest labelled ones of each symbol, after every fitted target
    held = candidate.validation
    assert len(held) == 2 * VALIDATION_ROWS and not np.isnan(held.y).any()
    assert (held.open_time + 5 * TF <= started).all()
    assert held.open_time.max() + 5 * TF == started  # the newest label known by then
    assert held.open_time.min() > window[1] + 4 * TF
    # each row is the window of closes ending at its candle, as the member reads it
    frame = frames["SYNBTCUSDT"].set_index("open_time")["close"]
    first = int(held.open_time[0])
    assert held.x[0][-1] == frame[first] and held.x[0][0] == frame[first - 167 * TF]


def test_the_held_out_windows_are_as_long_as_the_forecasters_read() -> None:
    from quantum_trader.learning.forecaster_lines import ForecasterConfig
    from quantum_trader.models.forecasting.candles import INPUT_SIZE

    assert ForecasterConfig(LABELS, ("BTCUSDT",), "1h").window == INPUT_SIZE


def test_a_reader_past_the_trigger_is_refused(
    sqlite_engine: Engine, tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    honest = closes_reader(frames)

    def too_far(symbol: str, first: int, until: int) -> Closes:
        return honest(symbol, first, until + TF)  # one candle more than was closed

    rig = ForecasterRig(sqlite_engine, tmp_path, frames, ThreadWorker("learning"), read=too_far)
    rig.run_until(START + 36 * MS_PER_DAY)
    rig.drift("SYNBTCUSDT")
    with pytest.raises(LookAheadError, match="closed only at"):
        rig.run_until(START + 37 * MS_PER_DAY)
    rig.worker.shutdown()
    assert rig.candidates == []


def _gate_loader(rig: ForecasterRig, wrap: bool):  # type: ignore[no-untyped-def]
    from quantum_trader.learning.forecaster_lines import WindowRows

    load = forecast_loader(LABELS)

    def member(key: ModelKey, version: int | None) -> Member:
        found = rig.registry.production(key) if version is None else rig.registry.get(key, version)
        assert found is not None
        loaded = load(rig.store.open(found.artifact_hash), None)
        return WindowRows(loaded) if wrap else loaded

    return member


def test_warm_start_fine_tunes_the_production_weights_and_the_gate_judges_the_candidate(
    sqlite_engine: Engine, tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    rig = ForecasterRig(sqlite_engine, tmp_path, frames, ThreadWorker("learning"), warm_start=True)
    production = rig.bootstrap(START + 30 * MS_PER_DAY)
    rig.run_until(START + 36 * MS_PER_DAY)
    rig.drift("SYNBTCUSDT")
    rig.run_until(START + 37 * MS_PER_DAY)
    rig.worker.shutdown()
    (candidate,) = rig.candidates
    params = candidate.version.lineage.parameters
    champion = rig.registry.get(KEY, production)
    assert params["warm_start"]["from_version"] == production
    assert params["warm_start"]["from_artifact"] == champion.artifact_hash
    assert params["training"]["max_epochs"] == 1
    assert "fine-tuned from v1" in rig.registry.history(KEY)[-1].reason

    # the gate reads a forecaster's held-out rows as windows of closes: a verdict on all rows
    judged = ValidationGate(rig.registry, _gate_loader(rig, wrap=True), 4)
    result = judged(candidate.version, candidate.validation)
    assert result.rows == len(candidate.validation) and np.isfinite(result.statistic)
    stage = rig.registry.get(KEY, candidate.version.version).stage
    assert stage is (Stage.SHADOW if result.passed else Stage.RETIRED)
    # without the window adapter every forecaster vote abstains: nothing to judge
    from quantum_trader.learning.gate import probabilities

    unwrapped = _gate_loader(rig, wrap=False)(KEY, None)
    assert np.isnan(probabilities(unwrapped, "global", candidate.validation)).all()


def test_a_warm_start_begins_at_the_production_weights(frames: dict[str, pd.DataFrame]) -> None:
    """With no optimiser step, a warm fit returns the production weights; a cold one does not."""
    from quantum_trader.models.forecasting.candles import CloseSeries, train_candle_forecaster

    read = closes_reader(frames)
    end = START + 30 * MS_PER_DAY
    series = [
        CloseSeries(c.symbol, c.open_time, c.close)
        for c in (read(s, end - 25 * MS_PER_DAY, end) for s in sorted(frames))
    ]
    production, _ = train_candle_forecaster("nhits", series, LABELS, epochs=1, progress=False)
    frozen = {"max_steps": 0}
    warm, meta = train_candle_forecaster(
        "nhits", series, LABELS, epochs=1, progress=False, training=frozen, initial=production
    )
    cold, _ = train_candle_forecaster("nhits", series, LABELS, progress=False, training=frozen)
    assert warm.weights_hash == production.weights_hash != cold.weights_hash
    assert meta.hyperparameters["warm_start"] == {"weights": production.weights_hash}
    first_warm = meta.metrics["first_epoch_validation_pinball"]
    assert first_warm == pytest.approx(production.result.best_validation_loss)  # type: ignore[union-attr]


def _global_window(frames: dict[str, pd.DataFrame], end: int, days: int) -> TrainingWindow:
    """Every symbol's closes of the ``days`` days before ``end``: a global line's window."""
    read = closes_reader(frames)
    closes = tuple(read(s, end - days * MS_PER_DAY, end) for s in sorted(frames))
    return TrainingWindow(closes=closes, labels=LABELS, scope="global")


def test_a_production_version_of_another_spec_is_no_starting_point(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    """Sizes changed since production was trained: the fit runs from scratch, and says why."""

    store = LocalArtifactStore(tmp_path / "artifacts")
    window = _global_window(frames, START + 30 * MS_PER_DAY, 25)
    other = fit_in_this_process("patchtst", window, FitOptions(seed=1, epochs=1), store)
    warm = WarmStart(7, other.digest, epochs=1)
    fitted = fit_in_this_process(
        "nhits", window, FitOptions(seed=1, epochs=2, warm_start=warm), store
    )
    params = fitted.metadata.hyperparameters
    assert params["warm_start"] is None and params["training"]["max_epochs"] == 2
    assert params["warm_start_refused"].startswith("v7 has another spec")


def test_a_warm_start_on_recent_days_fits_only_those_closes(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    """QT_FORECASTER_WARM_DAYS: the fine-tuning reads the newest days before the calibration
    tail, and the lineage says so; the calibration tail is the whole window's, as before."""

    store = LocalArtifactStore(tmp_path / "artifacts")
    end = START + 50 * MS_PER_DAY
    window = _global_window(frames, end, 50)
    closes = window.closes
    production = fit_in_this_process("nhits", window, FitOptions(seed=1, epochs=1), store)
    fits = {
        days: fit_in_this_process(
            "nhits",
            window,
            FitOptions(seed=1, warm_start=WarmStart(3, production.digest, epochs=1, days=days)),
            store,
        ).metadata
        for days in (0, 25)
    }
    whole, recent = fits[0], fits[25]
    assert "days" not in whole.hyperparameters["warm_start"]
    assert recent.hyperparameters["warm_start"]["days"] == 25
    # the whole window begins at the closes' first candle; the recent fit 25 days before the
    # calibration tail (the newest fifth of the 50 days: 40 days of head) ends
    assert whole.training_window[0] == min(int(c.open_time[0]) for c in closes)
    head_end = min(int(c.open_time[0]) for c in closes) + 40 * MS_PER_DAY
    assert head_end - 26 * MS_PER_DAY < recent.training_window[0] <= head_end - 25 * MS_PER_DAY
    assert recent.training_window[1] == whole.training_window[1]
    assert recent.artifact_hash != whole.artifact_hash
    # calibrated on the same tail rows: both have held-out metrics of the same rows' labels
    assert recent.metrics.keys() == whole.metrics.keys()

    # the daemon's job hands the setting to the trainer
    config = ForecasterConfig(LABELS, tuple(sorted(frames)), "1h", warm_days=25)
    champion = SimpleNamespace(version=3, artifact_hash=production.digest)  # what the job reads
    job = forecaster_job(
        config, closes_reader(frames), end, 50 * MS_PER_DAY, 48, 1, cast(ModelVersion, champion)
    )
    assert job is not None and job.options.warm_start is not None
    assert job.options.warm_start.days == 25
    with pytest.raises(ValueError, match="warm_days=-1"):
        ForecasterConfig(LABELS, ("A",), "1h", warm_days=-1)


DAEMON_IN_A_SERVING_PROCESS = """
import json, sys
from pathlib import Path
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.clock.workers import ProcessWorker
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR
from tests.learning.forecaster_rig import START, ForecasterRig, market

tmp = Path(sys.argv[1])
engine = open_database(f"sqlite:///{tmp / 'qt.sqlite'}")
with ProcessWorker("learning") as worker:
    rig = ForecasterRig(engine, tmp, market(), worker)
    rig.run_until(START + 36 * MS_PER_DAY)
    rig.drift("SYNBTCUSDT")
    rig.run_until(START + 36 * MS_PER_DAY + 13 * MS_PER_HOUR)
print(json.dumps({
    "torch": "torch" in sys.modules,
    "candidates": [str(c.version.key) for c in rig.candidates],
    "worker_pid": worker.pid,
}))
"""


def test_the_worker_trains_the_forecaster_and_the_serving_process_never_imports_torch(
    tmp_path: Path,
) -> None:
    """The daemon's real worker: a daemonic process that may not spawn one of its own, so the
    forecaster must fit inside it; the process that runs the daemon never sees torch."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    done = subprocess.run(
        [sys.executable, "-c", DAEMON_IN_A_SERVING_PROCESS, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["candidates"] == [str(KEY)]
    assert result["torch"] is False
