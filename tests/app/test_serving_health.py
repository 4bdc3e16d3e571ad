"""A member disabled by a tampered artifact is logged and shown; a run left with no member able
to place an order ends FAILED with one line (issue 22 Part A item 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from quantum_trader.adapters.sql.tables import runs
from quantum_trader.app.main_job import run_main_job
from quantum_trader.config import load_settings
from quantum_trader.domain.errors import NothingToServeError
from quantum_trader.observability.logging import configure_logging
from quantum_trader.status import ModuleState


def _tamper(home: Path, model: str) -> None:
    for folder in (home / "artifacts").iterdir():
        meta = folder / "metadata.json"
        if meta.is_file() and json.loads(meta.read_text()).get("name") == model:
            meta.write_text(meta.read_text() + " ")


def _log(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_tampered_artifacts_are_logged_shown_and_stop_a_run_that_cannot_trade(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    env = {
        "QT_HOME": str(home),
        "QT_DATA_DIR": str(data_dir),
        "QT_REPLAY_DAYS": "3",
        "QT_TRAIN_DAYS": "60",
        "QT_OFFLINE": "true",
        "QT_LOG_FORMAT": "json",
        "AI_ENGINE_ENSEMBLE_MODELS": "xgb,lgbm",
        "AI_ENGINE_MIN_CONSENSUS": "1",
    }
    for key, value in env.items():
        clean_env.setenv(key, value)
    configure_logging(run_id="t", fmt="json")
    run_main_job(load_settings())  # trains xgb and lgbm on both symbols
    _tamper(home, "xgb")
    capsys.readouterr()

    # one member left per symbol: the run trades on, and says what it lost, where and why
    result = run_main_job(load_settings())
    refused = [r for r in _log(capsys.readouterr().err) if r["event"] == "model.artifact_refused"]
    assert {(r["model"], r["symbol"], r["version"]) for r in refused} == {
        ("xgb", "BTCUSDT", 1),
        ("xgb", "ETHUSDT", 1),
    }
    assert all(r["level"] == "error" and "altered" in str(r["reason"]) for r in refused)
    statuses = {s.name: s for s in result.runtime.status.snapshot()}
    xgb = statuses["xgb"]
    assert xgb.state is ModuleState.DISABLED
    assert "BTCUSDT" in xgb.reason and "ETHUSDT" in xgb.reason and "altered" in xgb.reason
    assert statuses["lgbm"].state is ModuleState.ACTIVE
    assert result.summary["decisions"] > 0

    # no member left: the run stops before its replay, FAILED, with one line
    _tamper(home, "lgbm")
    with pytest.raises(NothingToServeError, match="no order can be placed") as err:
        run_main_job(load_settings())
    assert "xgb/BTCUSDT v1 (artifact refused)" in str(err.value)
    assert "lgbm/ETHUSDT v1 (artifact refused)" in str(err.value)

    command = [sys.executable, "-c", "from quantum_trader.app.cli.main import main; main()", "run"]
    done = subprocess.run(
        command,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2
    errors = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no order can be placed" in errors[0], done.stdout
    finished = [r for r in _log(done.stderr) if r["event"] == "run.finish"]
    assert finished and finished[0]["status"] == "FAILED"
    db = result.runtime.db
    with db.connect() as conn:
        statuses_of_runs = [row[0] for row in conn.execute(select(runs.c.status))]
    assert statuses_of_runs.count("FAILED") == 2 and "RUNNING" not in statuses_of_runs
