"""``quantum-trader backtest --strategy ai``: the full decision path (the four members, the
intelligence modules, regime, selector, sizer, risk engine) over a past window.

It is the main job's replay on ``[start, end)`` instead of the last ``QT_REPLAY_DAYS``, never
live. Its models are its own: they are trained on the ``QT_TRAIN_DAYS`` before ``start`` into
a registry and artifact store kept for this backtest under ``$QT_HOME/backtests/``, because the
home's PRODUCTION models may have been trained on candles after ``start`` (serving them here
would be look-ahead). The candle store is the home's. Started again with the same symbols,
timeframe, window, horizon and training days, it reuses the models it trained the first time.

Its outputs are a main-job run's: ``metrics.json``, ``trades.csv``, ``report.html`` (the same
``backtester.report.write_outputs`` as the SMA-cross backtest, plus the decision path's
section) and ``summary.json`` in ``$QT_HOME/runs/<run id>/``. With ``--out`` they are copied
into that folder too (the run's own folder keeps them, as every run's does), and while the run
goes the CLI keeps ``progress.json`` there: ``{"done": candles replayed, "total": candles to
replay}``, rewritten atomically when the replay starts and every 1,024 candles (the engine's
progress step). That file is what an API job (``api/backtest_jobs.py``) reads for its
progress: the replay is not checkpointed into ``--db`` (its checkpoints are in this
backtest's own database, with its models, so a second run reuses them), so ``--db`` and
``--run-id`` do not apply here (a run id of an earlier run would resume that run's
checkpoints). While the models train, ``done`` is 0.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console

from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.api.backtest_jobs import PROGRESS_FILE
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.app.storage import open_settings_database
from quantum_trader.app.system_evaluation import replay_window
from quantum_trader.config.settings import Settings, load_settings, load_storage_settings
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import fmt

#: the run's outputs copied into ``--out`` (the first three as the SMA-cross backtest names them)
OUTPUTS = ("metrics", "trades", "report", "summary")


def backtest_home(settings: Settings, start: int, end: int) -> Path:
    """Where this backtest keeps its models: one folder per symbols, timeframe, window, label
    horizon and training days (what its models are trained on)."""
    key = json.dumps(
        [sorted(settings.symbols), settings.timeframe, start, end, settings.label_horizon,
         settings.train_days, settings.seed],
    )  # fmt: skip
    return settings.home / "backtests" / f"ai-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def ai_settings(overrides: dict[str, Any], start: int, end: int) -> Settings:
    """The run's settings: the environment's, the command's options over them, offline, with
    this backtest's own database and artifacts."""
    settings = load_settings(**overrides, offline=True)
    home = backtest_home(settings, start, end)
    home.mkdir(parents=True, exist_ok=True)
    return load_settings(
        **overrides,
        offline=True,
        store_dir=settings.effective_store_dir,
        database_url=f"sqlite:///{home / 'quantum_trader.sqlite'}",
        artifacts_dir=home / "artifacts",
    )


class ProgressFile:
    """``progress.json`` in ``--out``: the candles replayed and the candles to replay, each
    write a whole file (a temporary one renamed over it), so a reader never sees half of one."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / PROGRESS_FILE
        self.done = 0
        self.total = 0
        self._write()

    def start(self, total: int) -> None:
        self.done, self.total = 0, total
        self._write()

    def advance(self, n: int) -> None:
        self.done += n
        self._write()

    def _write(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"done": self.done, "total": self.total}))
        os.replace(temporary, self.path)


def copy_outputs(outputs: dict[str, Path], out: Path) -> dict[str, Path]:
    """The run's metrics, trades, report and summary copied into ``out``; their new paths."""
    out.mkdir(parents=True, exist_ok=True)
    return {
        key: Path(shutil.copy2(outputs[key], out / outputs[key].name))
        for key in OUTPUTS
        if key in outputs
    }


def run_ai_backtest(
    console: Console,
    symbols: Sequence[str],
    timeframe: str,
    start: int | None,
    end: int | None,
    overrides: dict[str, Any],
    out: Path | None = None,
) -> RunResult:
    """Run the AI backtest and print where its models and outputs are. With ``out``: its
    progress there while it runs, its outputs copied there at the end (``outputs`` of the
    result names the copies)."""
    if start is None or end is None:
        raise ConfigError("--strategy ai needs --start and --end (its models train before --start)")
    if end <= start:
        raise ConfigError(f"--end {fmt(end)} must be after --start {fmt(start)}")
    settings = ai_settings(
        {**overrides, "symbols": list(symbols), "timeframe": timeframe}, start, end
    )
    console.print(
        f"AI backtest {fmt(start)} → {fmt(end)} of {', '.join(symbols)} {timeframe}; "
        f"models trained on the {settings.train_days} days before, kept in "
        f"{Path(settings.effective_artifacts_dir).parent}"
    )
    progress = ProgressFile(out) if out is not None else None
    # the trial goes into the home's ledger, not this backtest's own database: the ledger counts
    # every trial made from this home
    ledger = SqlTrialLedger(open_settings_database(load_storage_settings()))
    result = run_main_job(
        settings,
        window=(start, end),
        on_stage=lambda text: console.print(f"  {text}"),
        on_start=progress.start if progress is not None else None,
        on_progress=progress.advance if progress is not None else None,
        ledger=ledger,
        gate_replay=replay_window,
    )
    if out is not None:
        console.print(f"run {result.run_id}'s outputs: {result.outputs['report'].parent}")
        result = replace(result, outputs=copy_outputs(result.outputs, out))
    if result.trial_id is not None:
        console.print(f"trial #{result.trial_id} recorded (quantum-trader trials list)")
    return result
