"""Finding a run's unpublished report and refusing to write one that cannot be (no main job
here: ``tests/reliability/test_report_recovery.py`` kills one while it writes its report)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.tables import runs
from quantum_trader.app.cli.main import app
from quantum_trader.app.report_recovery import rebuild_report
from quantum_trader.app.report_staging import STAGING, WRITER, unwritten_reports
from quantum_trader.app.run_report import begin_report
from quantum_trader.app.storage import open_settings_database
from quantum_trader.config import load_settings
from quantum_trader.domain.errors import DataError
from quantum_trader.status import ModuleState, ModuleStatus


@pytest.fixture
def home(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.setenv("COLUMNS", "400")  # the console wraps long lines at its width
    return tmp_path / "home"


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _stage(home: Path, run_id: str, writer: dict[str, object] | None) -> Path:
    staging = begin_report(home / "runs" / run_id, "backtest")
    if writer is not None:
        (staging / WRITER).write_text(json.dumps(writer))
    else:
        (staging / WRITER).write_text('{"pid": 12')  # killed while its note was written
    return staging


def test_a_staged_report_is_named_by_whether_its_writer_lives(home: Path) -> None:
    host = socket.gethostname()
    dead = _stage(home, "r-dead", {"pid": _dead_pid(), "host": host, "produced_by": "backtest"})
    _stage(home, "r-alive", {"pid": os.getpid(), "host": host, "produced_by": "run"})
    _stage(home, "r-torn", None)
    _stage(home, "r-away", {"pid": 1, "host": host + "-elsewhere", "produced_by": "run"})
    (home / "runs" / "r-done").mkdir()  # a published report: no staging folder
    found = {u.run_id: u for u in unwritten_reports(home)}
    assert set(found) == {"r-dead", "r-alive", "r-torn", "r-away"}
    assert found["r-dead"].folder == dead.parent
    assert not found["r-dead"].writing and found["r-dead"].produced_by == "backtest"
    assert "`quantum-trader report r-dead` writes it" in found["r-dead"].line()
    assert found["r-alive"].writing
    assert found["r-alive"].line() == (
        f"run r-alive: its report is being written (pid {os.getpid()} on {host})"
    )
    assert not found["r-torn"].writing and "(its writer stopped" in found["r-torn"].line()
    # a writer on another host cannot be seen alive from here: its run can be written again
    assert not found["r-away"].writing and "another host" in found["r-away"].line()


def test_begin_report_starts_a_clean_staging_folder_with_this_process_as_writer(
    home: Path,
) -> None:
    out = home / "runs" / "r1"
    (out / STAGING).mkdir(parents=True)
    (out / STAGING / "report.html").write_text("half a report")
    staging = begin_report(out, "run")
    assert sorted(p.name for p in staging.iterdir()) == [WRITER]
    note = json.loads((staging / WRITER).read_text())
    assert note == {"pid": os.getpid(), "host": socket.gethostname(), "produced_by": "run"}


def test_status_names_a_run_whose_report_was_not_written(home: Path) -> None:
    settings = load_settings()
    db = open_settings_database(settings)
    with db.begin() as conn:
        conn.execute(
            insert(runs).values(
                run_id="r-dead", mode="replay", started_at=1, finished_at=2, status="FINISHED"
            )
        )
    _stage(home, "r-dead", {"pid": _dead_pid(), "host": socket.gethostname()})
    module = ModuleStatus("market_data", True, ModuleState.ACTIVE, "replaying", "r-dead", 5, 6, {})
    SqlStatusRepository(db).save([module], at=6)  # what the run flushed
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "last run r-dead FINISHED" in result.output
    assert "run r-dead: its report was not written" in result.output
    assert "`quantum-trader report r-dead` writes it" in result.output


def test_a_report_is_not_written_under_its_live_writer_nor_for_a_run_without_an_end(
    home: Path,
) -> None:
    settings = load_settings()
    _stage(home, "r-alive", {"pid": os.getpid(), "host": socket.gethostname()})
    with pytest.raises(DataError, match="being written"):
        rebuild_report(settings, "r-alive")
    with pytest.raises(DataError, match="run nope: not in the database"):
        rebuild_report(settings, "nope")
    db = open_settings_database(settings)
    with db.begin() as conn:
        conn.execute(
            insert(runs).values(run_id="dead", mode="replay", started_at=1, status="CRASHED")
        )
    result = CliRunner().invoke(app, ["report", "dead"])
    assert isinstance(result.exception, DataError)
    assert "run dead is CRASHED: only a FINISHED run has a report" in str(result.exception)
