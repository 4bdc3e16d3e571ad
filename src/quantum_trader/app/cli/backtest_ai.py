"""``quantum-trader backtest --strategy ai``: the full decision path (the four members, the
intelligence modules, regime, selector, sizer, risk engine) over a past window.

It is the main job's replay on ``[start, end)`` instead of the last ``QT_REPLAY_DAYS``, never
live. Its models are its own: they are trained on the ``QT_TRAIN_DAYS`` before ``start`` into
a registry and artifact store kept for this backtest under ``$QT_HOME/backtests/``, because the
home's PRODUCTION models may have been trained on candles after ``start`` (serving them here
would be look-ahead). The candle store is the home's. Started again with the same symbols,
timeframe, window, horizon and training days, it reuses the models it trained the first time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.app.storage import open_settings_database
from quantum_trader.app.system_evaluation import replay_window
from quantum_trader.config.settings import Settings, load_settings, load_storage_settings
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import fmt


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


def run_ai_backtest(
    console: Console,
    symbols: Sequence[str],
    timeframe: str,
    start: int | None,
    end: int | None,
    overrides: dict[str, Any],
) -> RunResult:
    """Run the AI backtest and print where its models and outputs are."""
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
    # the trial goes into the home's ledger, not this backtest's own database: the ledger counts
    # every trial made from this home
    ledger = SqlTrialLedger(open_settings_database(load_storage_settings()))
    result = run_main_job(
        settings,
        window=(start, end),
        on_stage=lambda text: console.print(f"  {text}"),
        ledger=ledger,
        gate_replay=replay_window,
    )
    if result.trial_id is not None:
        console.print(f"trial #{result.trial_id} recorded (quantum-trader trials list)")
    return result
