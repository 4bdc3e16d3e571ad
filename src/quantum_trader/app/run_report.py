"""What a main-job run reports: its summary (the decision path's story), and the metrics, trades
and HTML report written by a spawned worker process.

The files are never seen half-written: the worker writes them into a staging folder of the
run's (:data:`STAGING`, with a note of its writer), then each is renamed into place, and
``summary.json`` goes last. A folder whose staging is still there once its writer's process is
gone belongs to a FINISHED run killed while its report was written:
``app/report_recovery.py`` finds it (``quantum-trader status`` names it) and writes the report
again from the database (``quantum-trader report RUN_ID``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from quantum_trader.agents.qlearning import QLearningSelector
from quantum_trader.app.data_sources import ReplayData
from quantum_trader.app.report_staging import STAGING, WRITER
from quantum_trader.app.training import TrainingReport
from quantum_trader.clock.workers import spawned_pool
from quantum_trader.decision.inputs import PipelineStats
from quantum_trader.decision.shadow import PairFigures
from quantum_trader.domain.time import MS_PER_DAY, fmt, timeframe_ms
from quantum_trader.engine.live_phase import LiveReport
from quantum_trader.engine.session import SessionResult

#: the summary keys the HTML report shows, in this order
REPORT_KEYS = (
    "data", "synthetic", "replay", "live", "models_trained", "decisions", "signals",
    "strategies_chosen", "trade_intents", "risk_decisions", "orders_sent",
    "regimes_at_end", "risk_mode", "trading_state", "trades", "qlearning_shadow",
)  # fmt: skip

#: the Q-learner's evidence counters of this run in the summary (its handle's)
QLEARNING_COUNTERS = (
    "decisions", "explorations", "holding", "updates", "trades_learnt", "idle_credits", "saves",
)  # fmt: skip


def run_summary(
    run_id: str,
    timeframe: str,
    data: ReplayData,
    stats: PipelineStats,
    result: SessionResult | None,
    training: Sequence[TrainingReport],
    live: LiveReport,
    *,
    risk_mode: str,
    trading_state: str,
) -> dict[str, Any]:
    """The run's summary: data, replay window, what was trained and what the decision path did."""
    # the last replayed close (the clock's now only until a live phase moves it to wall time)
    replay_end = max(int(f["open_time"].iloc[-1]) for f in data.frames.values())
    replay_end += timeframe_ms(timeframe)
    summary: dict[str, Any] = {
        "run_id": run_id,
        "data": data.origin,
        "synthetic": data.synthetic,
        "symbols": sorted(data.frames),
        "timeframe": timeframe,
        "replay": f"{fmt(data.replay_start)} → {fmt(replay_end)}",
        "replay_days": round((replay_end - data.replay_start) / MS_PER_DAY, 1),
        "live": live.summary(),
        "models_trained": [
            f"{r.key} v{r.version} ({r.seconds:.1f}s)" for r in training if r.trained
        ],
        "decisions": stats.decisions,
        "signals": dict(stats.signals),
        "strategies_chosen": dict(stats.strategies),
        "benched_substitutions": stats.benched_substitutions,
        "trade_intents": stats.intents,
        "risk_decisions": dict(stats.risk),
        "orders_sent": stats.orders,
        "regimes_at_end": dict(stats.last_regimes),
        "risk_mode": risk_mode,
        "trading_state": trading_state,
        "risk_timeline": [list(change) for change in stats.risk_timeline],
    }
    if result is not None:
        summary["metrics"] = result.metrics.to_dict()
        summary["trades"] = len(result.trades)
        # kept with the run's end: its report can be written again from the database with
        # them (app/report_recovery.py; the event-log hash cannot be recomputed exactly there)
        summary["digests"] = {
            "candles": result.candles,
            "ledger_digest": result.ledger_digest,
            "event_log_hash": result.event_log_hash,
        }
    return summary


def qlearning_summary(
    learner: QLearningSelector, counters: Mapping[str, int], figures: PairFigures | None
) -> dict[str, Any]:
    """Module 14's part of the summary: what the Q-learner did this run (``counters``: its
    status handle's), its table (all runs: the counts are restored with it), and its shadow
    account's figures against the twin on production's selector (None while the pair runs)."""
    return {
        "scope": learner.scope,
        "this_run": {k: counters.get(k, 0) for k in QLEARNING_COUNTERS},
        "table": {
            "updates": learner.updates,
            "trades_learnt": learner.trades_learnt,
            "cells": len(learner.table),
            "epsilon": round(learner.epsilon, 4),
        },
        "verdict": None if figures is None else figures.summary(),
        "pair": None if figures is None else asdict(figures),
    }


def _write_outputs(
    result: SessionResult,
    frames: Mapping[str, pd.DataFrame],
    out_dir: Path,
    summary: Mapping[str, Any],
) -> dict[str, Path]:
    from quantum_trader.backtester.report import ReportSection, write_outputs

    # the decision path's story, under the equity and candle charts; keys sorted, as the
    # database keeps the summary (a report written again from it reads the same)
    section = ReportSection(
        f"Run {summary.get('run_id')}: decision path",
        [
            (k, json.dumps(summary.get(k), default=str, ensure_ascii=False, sort_keys=True))
            for k in REPORT_KEYS
        ],
    )
    timeline = [(int(t), str(m), str(s)) for t, m, s in summary.get("risk_timeline", [])]
    return write_outputs(
        result,
        frames,
        out_dir,
        kind=str(summary.get("produced_by", "run")),
        sections=[section],
        risk_timeline=timeline,
    )


def write_outputs_in_worker(
    result: SessionResult,
    frames: Mapping[str, pd.DataFrame],
    out_dir: Path,
    summary: dict[str, Any],
) -> dict[str, Path]:
    """Metrics, trades and the Plotly report with the run's decision-path section, written by a
    spawned worker process (the figure, every candle as JSON, is megabytes of HTML: batch work
    that would otherwise set the serving process's peak memory); then ``summary.json``, with
    the outputs' paths added to ``summary``. Staged, then published (the module docstring)."""
    staging = begin_report(out_dir, str(summary.get("produced_by", "run")))
    with spawned_pool() as pool:  # its process dies with the engine
        staged = pool.submit(_write_outputs, result, dict(frames), staging, summary).result()
    return publish_report(staged, out_dir, summary)


def begin_report(out_dir: Path, produced_by: str) -> Path:
    """An empty staging folder in ``out_dir`` (what an earlier attempt left there goes), with
    the note of its writer: this process."""
    staging = out_dir / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    writer = {"pid": os.getpid(), "host": socket.gethostname(), "produced_by": produced_by}
    (staging / WRITER).write_text(json.dumps(writer), encoding="utf-8")
    return staging


def publish_report(
    staged: Mapping[str, Path], out_dir: Path, summary: dict[str, Any]
) -> dict[str, Path]:
    """Rename the ``staged`` files into ``out_dir`` (each appears whole), then write
    ``summary.json`` the same way and remove the staging folder: the report is complete."""
    outputs = {key: out_dir / path.name for key, path in staged.items()}
    for key, path in staged.items():
        _durable_replace(path, outputs[key])
    summary["report"] = str(outputs["report"])
    outputs["summary"] = out_dir / "summary.json"
    summary["outputs"] = {k: str(v) for k, v in outputs.items()}
    staging = out_dir / STAGING
    written = staging / "summary.json"
    written.write_text(
        json.dumps(summary, indent=2, sort_keys=True, default=str, ensure_ascii=False),
        encoding="utf-8",
    )
    _durable_replace(written, outputs["summary"])
    shutil.rmtree(staging)
    return outputs


def _durable_replace(source: Path, target: Path) -> None:
    """``source`` on disk (fsync), then renamed to ``target`` (atomic on one file system)."""
    with source.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(source, target)
