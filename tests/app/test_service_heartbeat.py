"""A process's heartbeat (``app/service_heartbeat.py``) across processes: a child that beats
is UP in ``status``; killed with SIGKILL it reads DOWN within three periods of its last beat;
a clean stop reads STOPPED; a run's engine leaves its process with its modules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.service_health import KEEP_PER_ROLE, SqlServiceHealth
from quantum_trader.app.cli.main import app
from quantum_trader.app.main_job import run_main_job
from quantum_trader.app.service_heartbeat import ServiceHeartbeat
from quantum_trader.app.storage import open_settings_database
from quantum_trader.clock.clock import WallClock
from quantum_trader.config.settings import load_settings, load_storage_settings
from quantum_trader.status import ModuleState, ModuleStatus
from quantum_trader.status.services import ProcessState, ServiceProcess

PERIOD_S = 0.2
CHILD = f"""
import sys, time
from quantum_trader.app.service_heartbeat import ServiceHeartbeat
from quantum_trader.app.storage import open_settings_database
from quantum_trader.config.settings import load_storage_settings
db = open_settings_database(load_storage_settings())
ServiceHeartbeat(db, "market-data", modules=lambda: ["market_data"], period_s={PERIOD_S})
print("beating", flush=True)
time.sleep(600)
"""


@pytest.fixture(autouse=True)
def home(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.setenv("COLUMNS", "400")
    return tmp_path / "home"


def _status_json() -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    return {m["name"]: m for m in json.loads(result.output)}


def test_a_killed_process_reads_down_within_three_periods_of_its_last_beat() -> None:
    db = open_settings_database(load_storage_settings())
    module = ModuleStatus("market_data", True, ModuleState.ACTIVE, "feeding", "", 1, 1, {})
    SqlStatusRepository(db).save([module], at=1)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "beating"
        time.sleep(3 * PERIOD_S)  # a few beats
        health = SqlServiceHealth(db)
        (process,) = health.load_all()
        assert process.pid == child.pid and process.role == "market-data"
        assert process.state(WallClock().now()) is ProcessState.UP
        assert process.beat_at > process.started_at  # it beat after its start
        shown = _status_json()["market_data"]
        assert shown["process"] == process.process_id and shown["process_state"] == "UP"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    killed_at = WallClock().now()
    last_beat = health.load_all()[0].beat_at
    while health.load_all()[0].state(WallClock().now()) is ProcessState.UP:
        assert WallClock().now() - killed_at < 10_000, "never read DOWN"
        time.sleep(0.02)
    down_at = WallClock().now()
    # DOWN three periods after the last beat, which came at most one period before the kill
    assert down_at - last_beat == pytest.approx(3 * PERIOD_S * 1000, abs=150)
    assert down_at - killed_at <= 3 * PERIOD_S * 1000 + 150
    assert _status_json()["market_data"]["process_state"] == "DOWN"
    out = CliRunner().invoke(app, ["status"]).output
    assert "market-data" in out and "DOWN" in out and f"pid {child.pid}" in out


def test_a_clean_stop_reads_stopped_and_old_processes_are_forgotten() -> None:
    db = open_settings_database(load_storage_settings())
    health = SqlServiceHealth(db)
    for n in range(KEEP_PER_ROLE + 5):
        ServiceHeartbeat(db, "api", period_s=60, now=lambda n=n: 1_000 + n).stop()
    kept = health.load_all()
    assert len(kept) == KEEP_PER_ROLE  # the newest, the last one started among them
    assert all(p.state(10**13) is ProcessState.STOPPED for p in kept)
    # a process still beating is never forgotten, however old
    beating = ServiceProcess("engine@x:1:0", "engine", "x", 1, None, 10**12, 0, 0)
    health.start(beating)
    for n in range(KEEP_PER_ROLE + 2):
        ServiceHeartbeat(db, "engine", period_s=60, now=lambda n=n: 2_000 + n).stop()
    assert beating.process_id in {p.process_id for p in health.load_all()}


def test_a_run_leaves_its_engine_process_stopped_with_its_modules(
    clean_env: pytest.MonkeyPatch, home: Path
) -> None:
    clean_env.setenv("QT_OFFLINE", "true")
    clean_env.setenv("QT_TRAIN_DAYS", "30")
    # a few days: what is tested is the process row a run leaves, not what it traded (the
    # default 90 days made this the suite's slowest test, 9 minutes)
    clean_env.setenv("QT_REPLAY_DAYS", "3")
    clean_env.setenv("AI_ENGINE_ENSEMBLE_MODELS", '["xgb","lgbm"]')
    result = run_main_job(load_settings(), synthetic=True, run_id="beating-run")
    (process,) = SqlServiceHealth(result.runtime.db).load_all()
    assert process.role == "engine" and process.run_id == "beating-run"
    assert process.pid == os.getpid() and process.stopped_at is not None
    assert set(process.modules) == {s.name for s in result.runtime.status.snapshot()}
    shown = _status_json()
    assert {m["process_state"] for m in shown.values()} == {"STOPPED"}
