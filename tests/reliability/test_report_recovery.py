"""``kill -9`` while a finished run's report is written: ``status`` names the run and the
command, which writes the report again, equal to what the run itself wrote (issue 22, item 1).

The main job runs offline in a child process (BTCUSDT and ETHUSDT 1h, a 6-day replay, xgb and
lgbm) that kills itself in the middle of publishing its report: the worker has written every
file into the staging folder, ``metrics.json`` is renamed into place, the others are not. Before
that the child copies the staged files and the summary aside: they are what the run wrote, and
the report written again from the database must equal them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability import kill_replay as kr

pytestmark = [pytest.mark.data, pytest.mark.slow]

CHILD = """
import json, os, shutil, signal, sys
from pathlib import Path
from quantum_trader.app import run_report
from quantum_trader.app.cli.main import main

publish, replace = run_report.publish_report, run_report._durable_replace
aside = Path(os.environ["REPORT_ASIDE"])

def replace_then_die(source, target):
    replace(source, target)
    os.kill(os.getpid(), signal.SIGKILL)  # one file published, the others still staged

def publish_killed(staged, out_dir, summary):
    aside.mkdir(parents=True)
    for path in staged.values():
        shutil.copy(path, aside / path.name)
    (aside / "summary.json").write_text(json.dumps(summary, sort_keys=True, default=str))
    run_report._durable_replace = replace_then_die
    return publish(staged, out_dir, summary)

run_report.publish_report = publish_killed
sys.argv = ["quantum-trader", "run"]
main()
"""

#: plotly names each figure's element with a random UUID
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_a_run_killed_writing_its_report_is_named_and_its_report_written_again(
    tmp_path: Path, data_dir: Path
) -> None:
    env = kr.replay_env(tmp_path / "home", data_dir, symbols="BTCUSDT,ETHUSDT", replay_days=6)
    env |= {"QT_TRAIN_DAYS": "30", "QT_RL_AGENTS": "false", "REPORT_ASIDE": str(tmp_path / "aside")}
    child = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=600
    )
    assert child.returncode == kr.KILLED, child.stderr[-3000:]
    (run_id,) = kr.run_ids(env)
    assert kr.run_statuses(env) == {run_id: "FINISHED"}  # its end was recorded before
    folder = Path(env["QT_HOME"]) / "runs" / run_id
    aside = tmp_path / "aside"
    assert (folder / "metrics.json").is_file()  # published whole before the kill
    assert not (folder / "report.html").exists() and not (folder / "summary.json").exists()
    assert len((aside / "trades.csv").read_text().splitlines()) > 2, "no trades to compare"

    status = kr.cli(env, "status")
    assert status.returncode == 0, status.stdout  # the run FINISHED: not a crash of the engine
    assert f"run {run_id}: its report was not written" in status.stdout
    assert f"`quantum-trader report {run_id}` writes it" in status.stdout

    written = kr.cli(env, "report", run_id)
    assert written.returncode == 0, written.stdout + written.stderr[-3000:]
    assert str(folder / "report.html") in written.stdout
    for name in ("metrics.json", "trades.csv"):
        assert (folder / name).read_bytes() == (aside / name).read_bytes(), name
    html = UUID.sub("-", (folder / "report.html").read_text(encoding="utf-8"))
    assert html == UUID.sub("-", (aside / "report.html").read_text(encoding="utf-8"))
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["report"] == str(folder / "report.html")
    assert set(summary.pop("outputs")) == {"metrics", "trades", "report", "summary"}
    del summary["report"]
    assert summary == json.loads((aside / "summary.json").read_text())
    assert summary["produced_by"] == "run"
    assert not (folder / ".report.partial").exists()

    again = kr.cli(env, "status")
    assert again.returncode == 0 and "report was not written" not in again.stdout
