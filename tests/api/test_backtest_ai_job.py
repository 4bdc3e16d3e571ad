"""A real ``--strategy ai`` backtest job (the full decision path) through the API: three days
of BTCUSDT at 1h from the shared data, its two members (xgb, lgbm) trained on the 60 days
before, followed to its end; its metrics, its report (the decision path's section in it), its
trades and its ``progress.json`` (every candle of the window replayed) in the job's folder.
About 15 s, mostly the child's training and the report's worker."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from quantum_trader.api.backtest_jobs import BacktestJobs
from quantum_trader.api.config import ApiConfig
from quantum_trader.app.cli.serve import CLI_COMMAND
from quantum_trader.clock.clock import SimulatedClock, WallClock
from tests.api.test_backtests import DAY, JAN_2024, JOBS, child_env, client_for, wait_until_done

CANDLES = 3 * 24  # one symbol, three days of hours
FINISH_S = 120.0


@pytest.mark.data
@pytest.mark.slow
def test_an_ai_backtest_job_runs_the_decision_path_to_its_metrics_and_report(
    config: ApiConfig, sqlite_engine: Engine, clock: SimulatedClock, tmp_path: Path,
    data_dir: Path,
) -> None:  # fmt: skip
    env = child_env(tmp_path / "home", data_dir)
    # small training: two members on 60 days, no PPO agents (a minute of policy training)
    env.update(QT_TRAIN_DAYS="60", AI_ENGINE_ENSEMBLE_MODELS="xgb,lgbm", QT_RL_AGENTS="false")
    jobs = BacktestJobs(tmp_path / "jobs", CLI_COMMAND, WallClock(), env)
    body = {"strategy": "ai", "symbols": ["BTCUSDT"], "timeframe": "1h", "start": JAN_2024,
            "end": JAN_2024 + 3 * DAY}  # fmt: skip
    for client, headers in client_for(config, sqlite_engine, clock, jobs):
        started = client.post(JOBS, json=body, headers=headers)
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        job = wait_until_done(client, headers, job_id, FINISH_S)
        assert job["state"] == "finished", job
        assert (job["strategy"], job["fast"], job["slow"]) == ("ai", None, None)
        assert job["progress"] == 1.0 and job["report"] == f"{JOBS}/{job_id}/report"
        metrics = job["metrics"]
        assert isinstance(metrics, dict) and metrics["final_equity"] > 0
        assert metrics["periods"] == CANDLES - 1 and "max_drawdown" in metrics
        report = client.get(f"{JOBS}/{job_id}/report", headers=headers)
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
        assert "backtest report" in report.text and ": decision path" in report.text
    out = jobs.folder(job_id) / "out"
    assert json.loads((out / "progress.json").read_text()) == {"done": CANDLES, "total": CANDLES}
    assert json.loads((out / "metrics.json").read_text())["candles"] == CANDLES
    summary = json.loads((out / "summary.json").read_text())
    assert summary["decisions"] == CANDLES and summary["produced_by"] == "backtest"
    with (out / "trades.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == summary["trades"]
    # the run's own folder keeps its outputs, as every run's does
    assert (tmp_path / "home" / "runs" / summary["run_id"] / "report.html").is_file()
    assert not (jobs.folder(job_id) / "checkpoints.sqlite").exists()
