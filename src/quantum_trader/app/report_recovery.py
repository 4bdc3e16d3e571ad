"""A FINISHED run whose report was not written, found and written again.

The main job records its run FINISHED (summary and all) before it writes the report, in a
worker (``app/run_report.py``). A kill in between leaves the report's staging folder behind,
with the note of its writer: ``report_staging.unwritten_reports`` finds those whose writer is
gone (``quantum-trader status`` names them), and :func:`rebuild_report` writes the report again
(``quantum-trader report RUN_ID``) from what the run left:

* the summary: the run's row in ``runs``, recorded at its end, with its metrics and its
  digests (candles replayed, ledger digest, event-log hash); what made the run (``run`` or
  ``backtest``, the report's title) from the writer's note, ``run`` without one;
* equity curve, trades, fills, orders and ledger: the execution store, which a finished run
  committed whole at its last checkpoint (the stored ledger is checked against the digest);
* the candles the charts show: the candle store, each symbol's from the run's first replayed
  candle (its initial deposit's time) to its last close (live candles included: the run kept
  them in the store).

So ``metrics.json``, ``trades.csv``, ``summary.json`` and the report's figures and tables are
those the run wrote (``tests/reliability/test_report_recovery.py`` compares them). Not exact:
the charts show the store's candles as they are now (a store re-imported over the run's window
since shows the new ones), and a symbol whose replay began after another's shows its candles
from the earlier start. A run recorded before 2026-12-06 has no digests in its summary: its
event-log hash is then recomputed from the last checkpoint: exact since the checkpoint's
encoding of unfolded events (``engine/checkpoint.py``, ``TAGGED``); from an older checkpoint,
whose JSON gave nested payload mappings back in sorted key order and tuples as lists, it can
differ from the hash the run computed.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from quantum_trader.adapters.candle_store.store import CandleStore
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.adapters.sql.tables import runs
from quantum_trader.app.report_staging import STAGING, unwritten_at
from quantum_trader.app.run_report import write_outputs_in_worker
from quantum_trader.app.storage import open_settings_database
from quantum_trader.config.settings import Settings
from quantum_trader.domain.errors import DataError
from quantum_trader.engine.checkpoint import EventLog
from quantum_trader.engine.metrics import Metrics
from quantum_trader.engine.session import SessionResult
from quantum_trader.execution.store import StoredRun
from quantum_trader.portfolio.ledger import Ledger


def rebuild_report(settings: Settings, run_id: str) -> dict[str, Path]:
    """Write the report of the FINISHED run ``run_id`` again, into ``home/runs/<run id>``,
    from the database and the candle store (the module docstring says what is exact).
    Returns the outputs' paths; DataError when the run has no report to write."""
    folder = settings.home / "runs" / run_id
    staged = unwritten_at(folder / STAGING) if (folder / STAGING).is_dir() else None
    if staged is not None and staged.writing:
        raise DataError(f"{staged.line()}: wait for it")
    db = open_settings_database(settings)
    try:
        summary = _finished_summary(db, run_id)
        stored = SqlExecutionStore(db).load(run_id)
    finally:
        db.dispose()
    if stored is None or not stored.finished:
        raise DataError(f"run {run_id}: its replay's last checkpoint is not in the database")
    result = stored_result(run_id, stored, summary)
    frames = stored_frames(CandleStore(settings.effective_store_dir), summary, stored)
    summary["produced_by"] = staged.produced_by if staged is not None else "run"
    return write_outputs_in_worker(result, frames, folder, summary)


def _finished_summary(db: Engine, run_id: str) -> dict[str, Any]:
    with db.connect() as conn:
        row = conn.execute(
            select(runs.c.status, runs.c.summary_json).where(runs.c.run_id == run_id)
        ).first()
    if row is None:
        raise DataError(f"run {run_id}: not in the database")
    if row.status != "FINISHED":
        raise DataError(
            f"run {run_id} is {row.status}: only a FINISHED run has a report "
            "(a replay that did not finish is run again from its start)"
        )
    summary: dict[str, Any] = json.loads(row.summary_json)
    if "metrics" not in summary:
        raise DataError(f"run {run_id}: its summary in the database has no metrics")
    return summary


def stored_result(run_id: str, stored: StoredRun, summary: dict[str, Any]) -> SessionResult:
    """The session's result as the finished run's last checkpoint and summary keep it."""
    ledger = Ledger()
    ledger.load(stored.ledger)
    digests = summary.get("digests") or _digests(stored, ledger.digest)
    if digests["ledger_digest"] != ledger.digest:
        raise DataError(f"run {run_id}: the stored ledger is not the one the run ended with")
    return SessionResult(
        run_id=run_id,
        metrics=_metrics(run_id, summary["metrics"]),
        trades=stored.trades,
        equity_times=[t for t, _ in stored.equity],
        equity_values=[e for _, e in stored.equity],
        ledger_digest=ledger.digest,
        event_log_hash=str(digests["event_log_hash"]),
        candles=int(digests["candles"]),
        resumed_from=0,
        elapsed_s=0.0,
        fills=stored.fills,
        orders=list(stored.orders.values()),
    )


def _digests(stored: StoredRun, ledger_digest: str) -> dict[str, Any]:
    """What a run's summary did not record (before 2026-12-06), from its last checkpoint: the
    candles are exact; the event-log hash may not be for an older checkpoint (the module
    docstring)."""
    events = EventLog()
    events.restore(json.loads(stored.state_json))
    return {
        "candles": stored.cursor,
        "ledger_digest": ledger_digest,
        "event_log_hash": events.final(),
    }


def _metrics(run_id: str, recorded: dict[str, Any]) -> Metrics:
    """The metrics the summary recorded (``Metrics.to_dict``: a figure that was not finite
    reads None there, and NaN again here: ``to_dict`` writes it None as before)."""
    names = {f.name for f in fields(Metrics)}
    if set(recorded) != names:
        raise DataError(
            f"run {run_id}: its recorded metrics have other figures than this version's "
            f"(missing {sorted(names - set(recorded))}, unknown {sorted(set(recorded) - names)})"
        )
    figures: dict[str, Any] = {k: math.nan if v is None else v for k, v in recorded.items()}
    return Metrics(**figures)


def stored_frames(
    store: CandleStore, summary: dict[str, Any], stored: StoredRun
) -> dict[str, pd.DataFrame]:
    """Each symbol's candles from the run's first replayed open (its initial deposit) to its
    last close, from the candle store."""
    if not stored.ledger:
        raise DataError("the run's ledger is empty: it has no initial deposit")
    first_open = stored.ledger[0].time
    last_close: dict[str, int] = json.loads(stored.state_json)["last_close"]
    timeframe = str(summary["timeframe"])
    return {
        symbol: store.load(
            symbol, timeframe, start=first_open, end=last_close.get(symbol, stored.last_time)
        )
        for symbol in summary["symbols"]
    }
