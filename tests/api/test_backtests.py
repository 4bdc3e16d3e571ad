"""Backtests as background jobs: a real SMA-cross job over four days of the shared data,
started through the API, followed to its end and its metrics and report fetched; one job at
a time (409); a failed child's reason; jobs listed again, the running one failed, after a
restart; the CLI options of each strategy, an ai job's argv and its progress read from its
``progress.json``; a job file written before jobs had a strategy; 404 without a runner or
for an unknown job; schemathesis over the job routes. The real ai job is
``test_backtest_ai_job.py``'s."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from schemathesis.generation.case import Case
from sqlalchemy import Engine

from quantum_trader.api.app import create_app
from quantum_trader.api.backtest_jobs import JOBS_FILE, BacktestJobs, BacktestRequest
from quantum_trader.api.config import ApiConfig
from quantum_trader.app.cli.serve import CLI_COMMAND
from quantum_trader.clock.clock import SimulatedClock, WallClock
from quantum_trader.domain.time import fmt
from tests.api.conftest import login
from tests.api.dashboard.seed import BACKTEST_DOUBLE
from tests.api.schema_checks import check_operations, operations
from tests.conftest import _is_setting

JOBS = "/api/v1/backtests"
DAY = 86_400_000
JAN_2024 = 1_704_067_200_000
BODY = {"symbols": ["BTCUSDT", "ETHUSDT"], "timeframe": "1h", "start": JAN_2024,
        "end": JAN_2024 + 4 * DAY}  # fmt: skip
FINISH_S = 30.0


def child_env(home: Path, data: Path | None) -> dict[str, str]:
    """This environment without the caller's settings, the home and data folder the test's."""
    env = {k: v for k, v in os.environ.items() if not _is_setting(k)}
    env["QT_HOME"] = str(home)
    if data is not None:
        env["QT_DATA_DIR"] = str(data)
    return env


def sleeper(seconds: float, code: int = 0, says: str = "") -> tuple[str, ...]:
    """A stand-in child: sleeps, writes ``says`` to stderr, exits with ``code``."""
    script = (
        f"import sys, time; time.sleep({seconds}); sys.stderr.write({says!r}); sys.exit({code})"
    )
    return (sys.executable, "-c", script)


def client_for(
    config: ApiConfig, engine: Engine, clock: SimulatedClock, jobs: BacktestJobs
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with TestClient(create_app(config, engine, clock, backtests=jobs)) as client:
        token = login(client)["access_token"]
        client.cookies.clear()
        yield client, {"Authorization": f"Bearer {token}"}


def wait_until_done(
    client: TestClient, headers: dict[str, str], job_id: int, timeout_s: float = FINISH_S
) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, object] = client.get(f"{JOBS}/{job_id}", headers=headers).json()
        if job["state"] in ("finished", "failed") or time.monotonic() > deadline:
            return job
        assert 0.0 <= float(str(job["progress"])) < 1.0
        time.sleep(0.2)


@pytest.mark.data
def test_a_backtest_job_runs_to_its_metrics_and_report(
    config: ApiConfig, sqlite_engine: Engine, clock: SimulatedClock, tmp_path: Path,
    data_dir: Path,
) -> None:  # fmt: skip
    jobs = BacktestJobs(
        tmp_path / "jobs", CLI_COMMAND, WallClock(), child_env(tmp_path / "home", data_dir)
    )
    for client, headers in client_for(config, sqlite_engine, clock, jobs):
        started = client.post(JOBS, json=BODY, headers=headers)
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        assert started.json()["state"] == "running"
        again = client.post(JOBS, json=BODY, headers=headers)  # the first one still runs
        assert again.status_code == 409 and f"job {job_id}" in again.json()["detail"]
        job = wait_until_done(client, headers, job_id)
        assert job["state"] == "finished", job
        assert job["progress"] == 1.0 and job["report"] == f"{JOBS}/{job_id}/report"
        metrics = job["metrics"]
        assert isinstance(metrics, dict) and metrics["final_equity"] > 0
        assert "total_return" in metrics and "max_drawdown" in metrics
        report = client.get(f"{JOBS}/{job_id}/report", headers=headers)
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
        listed = client.get(JOBS, headers=headers).json()
        assert [j["job_id"] for j in listed] == [job_id]


def test_one_job_at_a_time_and_a_failed_childs_reason(
    config: ApiConfig, sqlite_engine: Engine, clock: SimulatedClock, tmp_path: Path
) -> None:
    jobs = BacktestJobs(tmp_path, sleeper(0.5, 2, "error: no BTCUSDT 1h candles"), WallClock())
    for client, headers in client_for(config, sqlite_engine, clock, jobs):
        first = client.post(JOBS, json=BODY, headers=headers).json()["job_id"]
        assert client.post(JOBS, json=BODY, headers=headers).status_code == 409
        job = wait_until_done(client, headers, first)
        assert job["state"] == "failed"
        assert job["reason"] == "exit code 2: error: no BTCUSDT 1h candles"
        assert client.get(f"{JOBS}/{first}/report", headers=headers).status_code == 404
        second = client.post(JOBS, json=BODY, headers=headers)  # the first one has ended
        assert second.status_code == 202 and second.json()["job_id"] == first + 1
        jobs.wait(10)


def test_a_failed_jobs_reason_is_the_clis_error_line_on_its_stdout(tmp_path: Path) -> None:
    """The CLI prints its one-line error to stdout, a multi-line one with hints after it."""
    script = (
        "import sys; print('2024-01-01 [info] run.start'); print('error: no market data for"
        " NOPEUSDT 1h. Provide it:'); print('  * quantum-trader data import FILE'); sys.exit(2)"
    )
    jobs = BacktestJobs(tmp_path, (sys.executable, "-c", script), WallClock())
    job = jobs.start(BacktestRequest(("NOPEUSDT",), "1h", JAN_2024, JAN_2024 + DAY))
    jobs.wait(10)
    failed = jobs.get(job.job_id)
    assert failed is not None and failed.state == "failed"
    assert failed.reason == "exit code 2: error: no market data for NOPEUSDT 1h. Provide it:"


def test_a_restarted_serve_lists_its_jobs_and_fails_the_running_one(tmp_path: Path) -> None:
    request = BacktestRequest(("BTCUSDT",), "1h", JAN_2024, JAN_2024 + DAY)
    jobs = BacktestJobs(tmp_path, sleeper(1.0), WallClock())
    job = jobs.start(request)
    restarted = BacktestJobs(tmp_path, sleeper(1.0), WallClock())  # serve died meanwhile
    [again] = restarted.jobs()
    assert (again.job_id, again.request, again.state) == (job.job_id, request, "failed")
    assert again.reason == f"serve stopped while the job was running (pid {job.pid})"
    jobs.wait(10)


def test_each_strategy_gets_its_own_cli_options() -> None:
    start, end = fmt(JAN_2024), fmt(JAN_2024 + DAY)
    window = ["--timeframe", "1h", "--start", start, "--end", end]
    sma = BacktestRequest(("BTCUSDT", "ETHUSDT"), "1h", JAN_2024, JAN_2024 + DAY, 5, 20)
    assert sma.strategy == "sma_cross"
    assert sma.arguments() == [
        "backtest", "--symbols", "BTCUSDT", "ETHUSDT", *window, "--strategy", "sma_cross",
        "--fast", "5", "--slow", "20", "--quiet",
    ]  # fmt: skip
    ai = BacktestRequest(("BTCUSDT",), "1h", JAN_2024, JAN_2024 + DAY, strategy="ai")
    assert ai.arguments() == [
        "backtest", "--symbols", "BTCUSDT", *window, "--strategy", "ai", "--quiet",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown backtest strategy 'rsi'; known: sma_cross, ai"):
        BacktestRequest(("BTCUSDT",), "1h", JAN_2024, JAN_2024 + DAY, strategy="rsi")  # type: ignore[arg-type]


#: a stand-in for ``backtest --strategy ai``: writes its argv beside ``--out``, its progress
#: (a quarter of the replay) into it, waits, then writes its metrics and report
AI_DOUBLE = (
    sys.executable,
    "-c",
    "import json, pathlib, sys, time; "
    "out = pathlib.Path(sys.argv[sys.argv.index('--out') + 1]); out.mkdir(parents=True); "
    "(out.parent / 'argv.json').write_text(json.dumps(sys.argv[1:])); "
    "(out / 'progress.json').write_text(json.dumps({'done': 18, 'total': 72})); "
    "time.sleep(2); (out / 'metrics.json').write_text(json.dumps({'metrics': {'trades': 1}})); "
    "(out / 'report.html').write_text('<html>ai</html>')",
)


def test_an_ai_job_runs_the_ai_backtest_and_reads_its_progress_file(
    config: ApiConfig, sqlite_engine: Engine, clock: SimulatedClock, tmp_path: Path
) -> None:
    jobs = BacktestJobs(tmp_path, AI_DOUBLE, WallClock())
    body = {**BODY, "strategy": "ai"}
    for client, headers in client_for(config, sqlite_engine, clock, jobs):
        started = client.post(JOBS, json=body, headers=headers)
        assert started.status_code == 202, started.text
        job = started.json()
        assert (job["strategy"], job["fast"], job["slow"]) == ("ai", None, None)
        deadline, progress = time.monotonic() + FINISH_S, 0.0
        while progress == 0.0 and time.monotonic() < deadline:  # 18 of 72 candles replayed
            progress = client.get(f"{JOBS}/{job['job_id']}", headers=headers).json()["progress"]
            time.sleep(0.05)
        assert progress == 0.25
        done = wait_until_done(client, headers, job["job_id"])
        assert (done["state"], done["progress"]) == ("finished", 1.0)
        assert done["metrics"] == {"trades": 1}
        report = client.get(f"{JOBS}/{job['job_id']}/report", headers=headers)
        assert report.text == "<html>ai</html>"
    folder = jobs.folder(1)
    argv = json.loads((folder / "argv.json").read_text())
    request = BacktestRequest(
        ("BTCUSDT", "ETHUSDT"), "1h", JAN_2024, JAN_2024 + 4 * DAY, strategy="ai"
    )
    # its progress is its progress.json: no checkpoint database, no run id of the job's
    assert argv == [*request.arguments(), "--out", str(folder / "out")]
    assert not (folder / "checkpoints.sqlite").exists()


def test_a_job_file_from_before_strategies_still_loads(
    config: ApiConfig, sqlite_engine: Engine, clock: SimulatedClock, tmp_path: Path
) -> None:
    request = {"symbols": ["BTCUSDT"], "timeframe": "1h", "start": JAN_2024,
               "end": JAN_2024 + DAY, "fast": 12, "slow": 26}  # fmt: skip
    old = {"job_id": 3, "request": request, "state": "finished", "created_at": 1,
           "started_at": 2, "finished_at": 3, "progress": 1.0, "reason": "", "pid": 42,
           "metrics": {"total_return": 0.01}}  # fmt: skip
    (tmp_path / JOBS_FILE).write_text(json.dumps([old]))
    jobs = BacktestJobs(tmp_path, sleeper(0), WallClock())
    [job] = jobs.jobs()
    assert job.request == BacktestRequest(("BTCUSDT",), "1h", JAN_2024, JAN_2024 + DAY, 12, 26)
    assert job.request.strategy == "sma_cross" and job.metrics == {"total_return": 0.01}
    for client, headers in client_for(config, sqlite_engine, clock, jobs):
        [listed] = client.get(JOBS, headers=headers).json()
        assert (listed["strategy"], listed["fast"], listed["slow"]) == ("sma_cross", 12, 26)
    # rewritten with its strategy; an ai job's strategy is kept across a restart
    assert json.loads((tmp_path / JOBS_FILE).read_text())[0]["request"]["strategy"] == "sma_cross"
    ai = BacktestRequest(("ETHUSDT",), "4h", JAN_2024, JAN_2024 + DAY, strategy="ai")
    started = jobs.start(ai)
    jobs.wait(10)
    restarted = BacktestJobs(tmp_path, sleeper(0), WallClock())
    assert [j.request for j in restarted.jobs()] == [ai, job.request]
    assert started.job_id == 4


@pytest.mark.parametrize(
    "body",
    [
        {**BODY, "symbols": []},
        {**BODY, "symbols": ["btc/usdt"]},
        {**BODY, "end": BODY["start"]},
        {**BODY, "end": JAN_2024 + 400 * DAY},
        {**BODY, "fast": 30, "slow": 10},
        {**BODY, "strategy": "rsi"},
        {**BODY, "strategy": None},
        {**BODY, "strategy": "ai", "fast": 5},
        {**BODY, "strategy": "ai", "end": JAN_2024 + 400 * DAY},
    ],
)
def test_a_bad_job_is_refused_before_it_starts(
    config: ApiConfig, sqlite_engine: Engine, clock: SimulatedClock, tmp_path: Path,
    body: dict[str, object],
) -> None:  # fmt: skip
    jobs = BacktestJobs(tmp_path, sleeper(0), WallClock())
    for client, headers in client_for(config, sqlite_engine, clock, jobs):
        assert client.post(JOBS, json=body, headers=headers).status_code == 422
        assert jobs.jobs() == []


def test_a_bad_strategy_is_refused_with_a_clear_reason(
    config: ApiConfig, sqlite_engine: Engine, clock: SimulatedClock, tmp_path: Path
) -> None:
    jobs = BacktestJobs(tmp_path, sleeper(0), WallClock())
    for client, headers in client_for(config, sqlite_engine, clock, jobs):
        unknown = client.post(JOBS, json={**BODY, "strategy": "rsi"}, headers=headers).json()
        [error] = unknown["detail"]
        assert error["loc"] == ["body", "strategy"] and error["input"] == "rsi"
        assert error["msg"] == "Input should be 'sma_cross' or 'ai'"
        body = {**BODY, "strategy": "ai", "fast": 5, "slow": 20}
        [sma] = client.post(JOBS, json=body, headers=headers).json()["detail"]
        assert "fast and slow: the SMA cross's, not the ai strategy's" in sma["msg"]
        assert jobs.jobs() == []


def test_without_a_runner_or_for_an_unknown_job_404(
    config: ApiConfig, sqlite_engine: Engine, clock: SimulatedClock, tmp_path: Path,
    client: TestClient, bearer: dict[str, str],
) -> None:  # fmt: skip
    assert client.get(JOBS, headers=bearer).json() == {"detail": "no backtest runner configured"}
    assert client.post(JOBS, json=BODY, headers=bearer).status_code == 404
    jobs = BacktestJobs(tmp_path, sleeper(0), WallClock())
    for other, headers in client_for(config, sqlite_engine, clock, jobs):
        assert other.get(f"{JOBS}/7", headers=headers).status_code == 404
        assert other.get(f"{JOBS}/7/report", headers=headers).status_code == 404


def test_job_answers_keep_their_documented_schema(
    config: ApiConfig, sqlite_engine: Engine, clock: SimulatedClock, tmp_path: Path
) -> None:
    """schemathesis over the job routes with a runner (the CLI's stand-in: no market data):
    202, 409 while the job runs, the job and its report once it has finished."""
    jobs = BacktestJobs(tmp_path, BACKTEST_DOUBLE, WallClock())
    for client, headers in client_for(config, sqlite_engine, clock, jobs):
        first = client.post(JOBS, json=BODY, headers=headers).json()["job_id"]
        assert wait_until_done(client, headers, first)["state"] == "finished"
        check_job_operations(client.app, headers, first)
        jobs.wait(10)


def check_job_operations(app: object, headers: dict[str, str], job_id: int) -> None:
    chosen = [op for op in operations(app, headers) if op.path.startswith(JOBS)]
    assert len(chosen) == 4

    def known_job(case: Case) -> None:
        if case.path_parameters and "job_id" in case.path_parameters:
            case.path_parameters = {"job_id": job_id}  # answers with content

    check_operations(chosen, headers, known_job)
