"""``quantum-trader backtest``: replay stored candles through the engine with a strategy.

Example::

    quantum-trader backtest --symbols BTCUSDT ETHUSDT --timeframe 1h \\
        --start 2023-01-01 --end 2024-01-01 --strategy sma_cross

Candles come from the local candle store, fed from ``--data-dir`` (default ``QT_DATA_DIR``,
else ``../shared/data``) where that folder has them (see :mod:`quantum_trader.app.market_data`).
Writes metrics.json, trades.csv and report.html into ``--out`` (default
``reports/<run id>``). With ``--db`` the run is checkpointed and, started again with the same
arguments, resumes where it stopped. ``--strategy ai`` (``backtest_ai.py``) writes them where
every main-job run does, and copies them into ``--out`` when given, beside its
``progress.json``; ``--db`` and ``--run-id`` do not apply to it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.app.backtest_trials import backtest_trial
from quantum_trader.app.cli.backtest_ai import run_ai_backtest
from quantum_trader.app.cli.options import known_timeframe, made_folder, run_id_option
from quantum_trader.app.cli.render import metrics_table
from quantum_trader.app.market_data import open_market_data
from quantum_trader.app.storage import open_checked_database, open_settings_database
from quantum_trader.backtester.report import write_outputs
from quantum_trader.backtester.strategies import SmaCross, SmaCrossConfig
from quantum_trader.config import load_settings
from quantum_trader.config.bounds import NUMERIC_BOUNDS, Bounds
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import from_datetime
from quantum_trader.engine.session import SessionConfig, SessionResult, TradingSession
from quantum_trader.execution.instruments import spec_for
from quantum_trader.execution.simulated.exchange import ExchangeConfig
from quantum_trader.execution.simulated.fees import FeeSchedule
from quantum_trader.execution.simulated.funding import FundingConfig

app = typer.Typer(help="Backtests through the same engine as paper and live trading.")
STRATEGIES = ("sma_cross", "ai")


#: the numeric options' ranges: the setting's own (config/bounds.py) where the option stands in
#: for one, and for leverage what a USDT-M perpetual allows (Binance's highest is 125x)
OPTION_BOUNDS: dict[str, Bounds] = {
    "--balance": NUMERIC_BOUNDS["initial_balance"],
    "--maker-fee": NUMERIC_BOUNDS["maker_fee"],
    "--taker-fee": NUMERIC_BOUNDS["taker_fee"],
    "--slippage-bps": NUMERIC_BOUNDS["slippage_bps"],
    "--funding-rate": NUMERIC_BOUNDS["default_funding_rate"],
    "--notional": NUMERIC_BOUNDS["live_max_order_notional"],
    "--leverage": Bounds(0.0, 125.0, low_open=True),
    # the trial ledger takes seeds of 0 to 2**63 - 1 and QT_SEED numpy's: refused after the
    # whole replay and its reports before this check
    "--seed": NUMERIC_BOUNDS["seed"],
}


def check_options(values: Mapping[str, float], timeframe: str, out: Path | None) -> None:
    """Refuse, before anything runs, an option the replay would take and mis-measure (a
    negative slippage or leverage), fail on later with a traceback (a NaN, an unknown
    timeframe), or fail on after the replay (an ``--out`` that cannot be created)."""
    for option, value in values.items():
        bounds = OPTION_BOUNDS[option]
        if not bounds.accepts(value):
            integer = isinstance(value, int)
            raise ConfigError(f"{option} {value!r}: must be {bounds.describe(integer=integer)}")
    known_timeframe(timeframe)
    if out is not None:
        made_folder(out, "--out")


def _parse_day(text: str | None, option: str) -> int | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: not an ISO date (e.g. 2023-01-01)") from None
    return from_datetime(dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def default_data_dir() -> Path:
    env = os.environ.get("QT_DATA_DIR")
    return Path(env) if env else Path("../shared/data")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def backtest(
    ctx: typer.Context,
    symbols: Annotated[
        list[str], typer.Option("--symbols", help="symbols, e.g. --symbols BTCUSDT ETHUSDT")
    ],
    timeframe: str = typer.Option("1h", "--timeframe"),
    start: str | None = typer.Option(None, "--start", help="first candle open, ISO date (UTC)"),
    end: str | None = typer.Option(None, "--end", help="end (exclusive), ISO date (UTC)"),
    strategy: str = typer.Option(
        "sma_cross",
        "--strategy",
        help="sma_cross, or ai: the full decision path with models trained before --start "
        "(app/cli/backtest_ai.py; the SMA options do not apply)",
    ),
    fast: int = typer.Option(10, "--fast"),
    slow: int = typer.Option(30, "--slow"),
    notional: float = typer.Option(
        1000.0, "--notional", help="USDT per position (sized at the first close)"
    ),
    leverage: float = typer.Option(1.0, "--leverage"),
    balance: float = typer.Option(10_000.0, "--balance"),
    maker_fee: float = typer.Option(0.0002, "--maker-fee"),
    taker_fee: float = typer.Option(0.0005, "--taker-fee"),
    slippage_bps: float = typer.Option(0.0, "--slippage-bps"),
    no_funding: bool = typer.Option(False, "--no-funding"),
    no_liquidation: bool = typer.Option(False, "--no-liquidation"),
    funding_rate: float = typer.Option(0.0001, "--funding-rate", help="rate where no data exists"),
    seed: int = typer.Option(0, "--seed"),
    db: str | None = typer.Option(None, "--db", help="database URL for checkpoints (resume)"),
    run_id: str = typer.Option("", "--run-id", callback=run_id_option),
    out: Annotated[Path | None, typer.Option("--out")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
    throttle_ms: float = typer.Option(0.0, "--throttle-ms", hidden=True),
    quiet: bool = typer.Option(False, "--quiet"),
) -> None:
    """Run a backtest and print its metrics and the report path."""
    symbols = [*symbols, *[a for a in ctx.args if not a.startswith("-")]]
    if strategy not in STRATEGIES:
        raise typer.BadParameter(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    options = {
        "--balance": balance,
        "--maker-fee": maker_fee,
        "--taker-fee": taker_fee,
        "--slippage-bps": slippage_bps,
        "--funding-rate": funding_rate,
        "--notional": notional,
        "--leverage": leverage,
        "--seed": seed,
    }
    check_options(options, timeframe, out)
    first, stop = _parse_day(start, "--start"), _parse_day(end, "--end")
    console = Console(quiet=quiet)
    if strategy == "ai":
        if db or run_id:  # its replay checkpoints into its own database (backtest_ai.py)
            console.print("--db and --run-id do not apply to --strategy ai: ignored")
        ran = run_ai_backtest(
            console,
            symbols,
            timeframe,
            first,
            stop,
            {
                "data_dir": data_dir or default_data_dir(),
                "initial_balance": balance,
                "maker_fee": maker_fee,
                "taker_fee": taker_fee,
                "slippage_bps": slippage_bps,
                "default_funding_rate": funding_rate,
                "seed": seed,
            },
            out,
        )
        if ran.metrics is not None:
            console.print(metrics_table(ran.metrics.to_dict()))
        console.print(f"report: {ran.outputs['report']}")
        if out is not None:
            console.print(f"metrics: {ran.outputs['metrics']}  trades: {ran.outputs['trades']}")
        return
    settings = load_settings()
    market = open_market_data(settings, timeframe, data_dir or default_data_dir())
    frames = {s: market.candles(s, first, stop) for s in symbols}
    specs = {s: spec_for(s, f["close"].head(2000).tolist()) for s, f in frames.items()}
    sizes = tuple(
        (s, max(specs[s].floor_quantity(notional / float(f["close"].iloc[0])), specs[s].step_size))
        for s, f in sorted(frames.items())
    )
    sma = SmaCross(SmaCrossConfig(fast, slow, quantities=sizes, leverage=leverage))
    config = SessionConfig(
        timeframe,
        initial_balance=balance,
        exchange=ExchangeConfig(
            fees=FeeSchedule(maker_fee, taker_fee),
            slippage_bps=slippage_bps,
            seed=seed,
            liquidation=not no_liquidation,
        ),
        funding=FundingConfig(enabled=not no_funding, default_rate=funding_rate),
        run_id=run_id,
        throttle_s=throttle_ms / 1000.0,
    )
    store = SqlExecutionStore(open_checked_database(db, setting="--db")) if db else None
    funding = {s: market.funding_rates(s) for s in symbols}
    runner = TradingSession(config, frames, sma, funding_rates=funding, specs=specs, store=store)
    total = len(runner.feed)
    with Progress(
        TextColumn("replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    ) as bar:
        task = bar.add_task("replay", total=total)
        result = runner.run(progress=lambda n: bar.advance(task, n))
    paths = write_outputs(result, frames, out or Path("reports") / result.run_id)
    print_metrics(console, result)
    console.print(f"report: {paths['report']}")
    console.print(f"metrics: {paths['metrics']}  trades: {paths['trades']}")
    trial = backtest_trial(
        result,
        name="sma_cross",
        config={
            "strategy": "sma_cross",
            "fast": fast,
            "slow": slow,
            "notional": notional,
            "leverage": leverage,
            "initial_balance": balance,
            "maker_fee": maker_fee,
            "taker_fee": taker_fee,
            "slippage_bps": slippage_bps,
            "funding": not no_funding,
            "liquidation": not no_liquidation,
            "default_funding_rate": funding_rate,
        },
        symbols=list(frames),
        timeframe=timeframe,
        seed=seed,
        parent=result.run_id,
    )
    if trial is not None:  # into the home's database, whatever --db holds the checkpoints
        trial_id = SqlTrialLedger(open_settings_database(settings)).record(trial)
        console.print(f"trial #{trial_id} recorded (quantum-trader trials list)")


def print_metrics(console: Console, result: SessionResult) -> None:
    table = Table(title=f"Backtest {result.run_id} ({result.candles} candles this session)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.metrics.to_dict().items():
        if isinstance(value, float):
            text = (
                f"{value:.4%}"
                if key in {"total_return", "cagr", "max_drawdown", "win_rate", "exposure"}
                else f"{value:,.4f}"
            )
        else:
            text = "n/a" if value is None else str(value)
        table.add_row(key, text)
    console.print(table)


if __name__ == "__main__":
    app()
