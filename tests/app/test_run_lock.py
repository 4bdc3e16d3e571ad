"""One engine per home (issue 22, Part A 2 and 3b), through the commands an operator runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.run_lock import SqlRunLock
from quantum_trader.adapters.sql.tables import runs
from quantum_trader.app.cli.main import main
from quantum_trader.app.main_job import run_main_job
from quantum_trader.app.run_lock import hold_run_lock
from quantum_trader.clock.clock import WallClock
from quantum_trader.config.settings import load_settings


@pytest.fixture(autouse=True)
def home(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.setenv("QT_OFFLINE", "true")
    clean_env.setenv("QT_TRAIN_DAYS", "30")
    clean_env.setenv("AI_ENGINE_ENSEMBLE_MODELS", '["xgb","lgbm"]')
    clean_env.setenv("COLUMNS", "400")  # the console wraps long lines at its width
    return tmp_path / "home"


def _run_statuses() -> dict[str, str]:
    db = open_database(load_settings().effective_database_url)
    with db.connect() as conn:
        return {r.run_id: r.status for r in conn.execute(select(runs.c.run_id, runs.c.status))}


def test_a_second_run_on_one_home_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = open_database(load_settings().effective_database_url)
    running = hold_run_lock(db, "the-running-one")  # the first engine's own code path
    try:
        monkeypatch.setattr(sys, "argv", ["quantum-trader", "run", "--synthetic"])
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        running.release()
    assert exit_info.value.code == 2
    out = capsys.readouterr().out
    errors = [line for line in out.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert errors[0].startswith(
        "error: another engine is running on this database: run the-running-one"
    )
    assert "Traceback" not in out and "pid " in errors[0] and "last heartbeat" in errors[0]
    assert _run_statuses() == {}  # refused before it registered, trained or wrote anything


def test_a_run_that_fails_before_its_replay_is_failed_and_frees_the_lock(home: Path) -> None:
    """An artifacts folder that cannot be created fails the first training: the run must not
    stay RUNNING, nor keep the lock that would refuse the next run for two minutes."""
    home.mkdir(parents=True)
    blocker = home / "not-a-folder"
    blocker.write_text("")
    settings = load_settings().model_copy(update={"artifacts_dir": blocker})
    with pytest.raises(OSError):
        run_main_job(settings, synthetic=True, run_id="fails-training")
    assert _run_statuses() == {"fails-training": "FAILED"}
    assert (
        SqlRunLock(open_database(settings.effective_database_url), WallClock().now).holder() is None
    )
