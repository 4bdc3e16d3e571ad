"""``train`` on a small slice of the shared data writes hashed, loadable artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from quantum_trader.app.cli.train import app, train_forecasters
from quantum_trader.clock import SimulatedClock
from quantum_trader.features.labels import LabelSpec
from quantum_trader.models.forecasting.data import read_candles
from quantum_trader.models.forecasting.member import METADATA_FILE, ForecastMember
from quantum_trader.status import StatusRegistry

runner = CliRunner()


@pytest.mark.data
def test_train_writes_a_member_the_serving_path_loads(data_dir: Path, tmp_path: Path) -> None:
    args = ["train", "--models", "nhits", "--symbol", "BTCUSDT", "--timeframe", "1h"]
    args += ["--years", "0.06", "--epochs", "1", "--no-progress"]
    args += ["--artifacts-dir", str(tmp_path), "--data-dir", str(data_dir)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (directory,) = (tmp_path / "nhits" / "BTCUSDT-1h").iterdir()
    metadata = json.loads((directory / METADATA_FILE).read_text())
    assert metadata["name"] == "nhits" and metadata["scope"] == "BTCUSDT"
    assert metadata["artifact_hash"][:16] in result.output
    candles = read_candles(data_dir, "BTCUSDT", "1h")
    assert metadata["training_window"][1] == int(candles["open_time"].iloc[-1])
    member = ForecastMember.load(directory, expected_hash=metadata["artifact_hash"])
    vote = member.vote("BTCUSDT", candles["close"].to_numpy(np.float64)[-168:])
    assert abs(vote.p_down + vote.p_flat + vote.p_up - 1.0) < 1e-9


@pytest.mark.data
def test_training_counts_evidence_for_status(data_dir: Path, tmp_path: Path) -> None:
    registry = StatusRegistry(SimulatedClock(5))
    handle = registry.register("patchtst", enabled=True, reason="test")
    (item,) = train_forecasters(
        ["patchtst"],
        ["ETHUSDT"],
        "1h",
        data_dir,
        tmp_path,
        LabelSpec(),
        years=0.05,
        epochs=1,
        progress=False,
        status={"patchtst": handle},
    )
    assert handle.status.counters == {"trainings_run": 1, "artifacts_written": 1}
    assert item.metadata.scope == "ETHUSDT" and (item.directory / "model.onnx").is_file()


def test_unknown_model_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--models", "nhits,lstm", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "lstm" in result.output


@pytest.mark.data
def test_read_candles_gives_int_ms_open_times(data_dir: Path) -> None:
    frame = read_candles(data_dir, "ETHUSDT", "1h")
    assert frame["open_time"].dtype == np.int64
    assert (np.diff(frame["open_time"].to_numpy()) == 3_600_000).all()
