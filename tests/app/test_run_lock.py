"""One engine per home (issue 22, Part A 2 and 3b), through the commands an operator runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.run_lock import STALE_AFTER_MS, LockHolder, SqlRunLock
from quantum_trader.adapters.sql.tables import runs
from quantum_trader.app.cli.main import app, main
from quantum_trader.app.main_job import run_main_job
from quantum_trader.app.run_lock import engine_liveness, gone_from_this_host, hold_run_lock
from quantum_trader.clock.clock import WallClock
from quantum_trader.config.settings import load_settings
from quantum_trader.domain.time import fmt
from quantum_trader.status import ModuleState, ModuleStatus


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


def _flushed_modules(db: Engine, run_id: str) -> None:
    """What a run leaves in ``module_status``: ACTIVE modules with engine-time heartbeats."""
    module = ModuleStatus("market_data", True, ModuleState.ACTIVE, "replaying", run_id, 5, 6, {})
    SqlStatusRepository(db).save([module], at=6)


def _status_output() -> tuple[int, str]:
    result = CliRunner().invoke(app, ["status"])
    return result.exit_code, result.output


def test_status_after_a_killed_run_says_the_engine_is_not_running() -> None:
    """``kill -9``: the lock's heartbeat stops; status showed every module ACTIVE, exit 0."""
    db = open_database(load_settings().effective_database_url)
    long_ago = WallClock().now() - STALE_AFTER_MS - 60_000
    SqlRunLock(db, lambda: long_ago).acquire("killed-run", 4242, "box")
    with db.begin() as conn:
        conn.execute(
            insert(runs).values(
                run_id="killed-run", mode="replay", started_at=long_ago, status="RUNNING"
            )
        )
    _flushed_modules(db, "killed-run")
    code, out = _status_output()
    assert code == 3
    assert f"last run killed-run CRASHED: no heartbeat since {fmt(long_ago)}" in out
    assert "engine not running (last run killed-run CRASHED" in out and "pid 4242 on box" in out
    assert "module states below are those the last run flushed" in out


def test_status_names_the_live_engine_and_the_end_of_a_finished_one() -> None:
    db = open_database(load_settings().effective_database_url)
    _flushed_modules(db, "live-run")
    held = hold_run_lock(db, "live-run")
    try:
        code, out = _status_output()
    finally:
        held.release()
    assert code == 0 and "engine running: run live-run (pid " in out
    assert "module states below" not in out
    with db.begin() as conn:
        conn.execute(
            insert(runs).values(
                run_id="live-run", mode="replay", started_at=1, finished_at=2, status="FINISHED"
            )
        )
    code, out = _status_output()
    assert code == 0 and "engine not running (last run live-run FINISHED at " in out


def test_status_of_a_run_left_running_without_a_lock_says_it_crashed() -> None:
    """Runs of a version before the lock (or killed between the lock's loss and their end)."""
    db = open_database(load_settings().effective_database_url)
    with db.begin() as conn:
        conn.execute(
            insert(runs).values(run_id="old", mode="replay", started_at=1, status="RUNNING")
        )
    _flushed_modules(db, "old")
    code, out = _status_output()
    assert code == 3 and "engine not running (last run old CRASHED: RUNNING since " in out


def test_the_held_lock_beats_in_wall_time_until_released() -> None:
    db = open_database(load_settings().effective_database_url)
    lock = SqlRunLock(db, WallClock().now)
    held = hold_run_lock(db, "beating", period_s=0.05)
    try:
        first = lock.holder()
        assert first is not None
        deadline = time.monotonic() + 10
        while (now := lock.holder()) is not None and now.heartbeat_at == first.heartbeat_at:
            assert time.monotonic() < deadline, "no heartbeat in 10 s"
            time.sleep(0.02)
    finally:
        held.release()
    held.release()  # idempotent: the error paths and finish may both release
    assert lock.holder() is None


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(10)  # reaped: the pid names no process now
    return child.pid


def test_a_killed_engine_on_this_host_is_dead_at_once_not_after_two_minutes() -> None:
    """``kill -9`` then ``run`` again at once: the heartbeat is fresh but the process is gone."""
    db = open_database(load_settings().effective_database_url)
    host = socket.gethostname()
    SqlRunLock(db, WallClock().now).acquire("killed", _dead_pid(), host)
    assert not engine_liveness(db).alive
    assert "engine not running (last run killed CRASHED" in engine_liveness(db).line
    held = hold_run_lock(db, "next")
    try:
        assert held.acquired.taken_over is not None
        assert held.acquired.taken_over.run_id == "killed"
    finally:
        held.release()


def test_only_a_process_gone_from_this_host_is_known_dead() -> None:
    here = socket.gethostname()
    assert gone_from_this_host(LockHolder("r", _dead_pid(), here, 0, 0))
    assert not gone_from_this_host(LockHolder("r", os.getpid(), here, 0, 0))
    assert not gone_from_this_host(LockHolder("r", _dead_pid(), here + "-elsewhere", 0, 0))
