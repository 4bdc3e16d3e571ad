"""Acceptance: SIGKILL a replay mid-run, restart it on the same database, and it ends with the
same ledger, trades and orders as an uninterrupted run, without a duplicate client order id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.adapters.sql.tables_execution import exec_fills, exec_orders, replay_checkpoints

ARGS = [
    "--symbols",
    "BTCUSDT",
    "ETHUSDT",
    "--timeframe",
    "1h",
    "--start",
    "2023-03-01",
    "--end",
    "2023-04-01",
    "--fast",
    "5",
    "--slow",
    "12",
    "--quiet",
]


def _cli(db: Path, out: Path, data_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "quantum_trader.app.cli.backtest",
        *ARGS,
        "--db",
        f"sqlite:///{db}",
        "--out",
        str(out),
        "--data-dir",
        str(data_dir),
        *extra,
    ]


def _env(home: Path) -> dict[str, str]:
    """The CLI imports candles into the store under QT_HOME: a fresh one per test."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    pythonpath = src + os.pathsep + os.environ.get("PYTHONPATH", "")
    return os.environ | {"PYTHONPATH": pythonpath, "QT_HOME": str(home)}


def _count(url: str, column: object) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(column)).scalar_one())  # type: ignore[arg-type]
    except Exception:
        return 0
    finally:
        engine.dispose()


@pytest.mark.data
def test_sigkill_mid_replay_then_resume_equals_uninterrupted(
    tmp_path: Path, data_dir: Path
) -> None:
    clean_db, crash_db = tmp_path / "clean.sqlite", tmp_path / "crash.sqlite"
    subprocess.run(
        _cli(clean_db, tmp_path / "clean", data_dir),
        env=_env(tmp_path / "home"),
        check=True,
        timeout=120,
    )

    proc = subprocess.Popen(
        _cli(crash_db, tmp_path / "crash", data_dir, "--throttle-ms", "4"),
        env=_env(tmp_path / "home"),
    )
    url = f"sqlite:///{crash_db}"
    deadline = time.monotonic() + 90
    while _count(url, exec_fills) < 25:
        assert proc.poll() is None, "replay ended before it could be killed"
        assert time.monotonic() < deadline, "replay made no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    engine = create_engine(url)
    with engine.connect() as conn:
        cursor, finished = conn.execute(
            select(replay_checkpoints.c.cursor, replay_checkpoints.c.finished)
        ).one()
    engine.dispose()
    assert not finished and 0 < cursor < 2 * 744, "the kill must land mid-replay"

    subprocess.run(
        _cli(crash_db, tmp_path / "crash", data_dir),
        env=_env(tmp_path / "home"),
        check=True,
        timeout=120,
    )

    metrics = json.loads((tmp_path / "clean" / "metrics.json").read_text())
    assert metrics["metrics"]["trade_count"] > 20
    assert (tmp_path / "clean" / "report.html").stat().st_size > 100_000
    assert (tmp_path / "clean" / "trades.csv").read_text().count("\n") == metrics["metrics"][
        "trade_count"
    ] + 1
    resumed = json.loads((tmp_path / "crash" / "metrics.json").read_text())
    assert resumed["ledger_digest"] == metrics["ledger_digest"]
    assert resumed["event_log_hash"] == metrics["event_log_hash"]
    assert resumed["metrics"] == metrics["metrics"]

    clean_engine, crash_engine = create_engine(f"sqlite:///{clean_db}"), create_engine(url)
    clean_store, crash_store = SqlExecutionStore(clean_engine), SqlExecutionStore(crash_engine)
    with clean_engine.connect() as conn:
        run_id = conn.execute(select(replay_checkpoints.c.run_id)).scalar_one()
    clean, crashed = clean_store.load(run_id), crash_store.load(run_id)
    assert clean is not None and crashed is not None
    assert crashed.finished and clean.finished
    assert len(clean.trades) > 20
    assert crashed.ledger == clean.ledger
    assert crashed.trades == clean.trades
    assert crashed.fills == clean.fills
    assert crashed.orders == clean.orders
    assert crashed.equity == clean.equity
    with crash_engine.connect() as conn:
        ids = list(conn.execute(select(exec_orders.c.client_order_id)).scalars())
    assert len(ids) == len(set(ids)) == len(clean.orders)
    clean_engine.dispose()
    crash_engine.dispose()
