"""``quantum-trader paper``: the main job's engine and decision path (``run``), with the
simulated exchange, every order behind the risk engine and the home's kill switch.

Two forms, both :func:`~quantum_trader.app.main_job.run_main_job`:

* a replay of the stored candles of ``[--start, --end)`` paced at ``--speed`` × real time (the
  session sleeps between candles). It is ``backtest --strategy ai`` on that window, paced: its
  models are trained on the ``QT_TRAIN_DAYS`` before ``--start`` into the window's own database
  and artifacts under ``$QT_HOME/backtests/`` (the home's PRODUCTION models may have seen the
  window), reused by a later paper or AI backtest of the same window. The kill switch it
  obeys is the home's (``QT_HOME`` / ``QT_DATABASE_URL``): the risk engine reads it from there
  before every order, so ``quantum-trader risk kill-switch on`` stops this run too;
* ``--live-candles``: ``run`` on these symbols and timeframe: the last ``QT_REPLAY_DAYS``
  replayed, then Binance USDT-M closed candles (public data; no keys, no orders sent) on the
  wall clock, until Ctrl-C or ``--max-candles`` live candles, in the home's database.

The fixed SMA strategy's options (``--fast``, ``--slow``, ``--notional``) and the checkpoint
``--db`` of the old paper session are refused with what replaced them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.app.cli.backtest import _parse_day, default_data_dir
from quantum_trader.app.cli.backtest_ai import ai_settings
from quantum_trader.app.cli.options import known_timeframe, run_id_option
from quantum_trader.app.cli.render import metrics_table
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.app.run_options import RunOptions
from quantum_trader.app.storage import open_settings_database
from quantum_trader.app.system_evaluation import replay_window
from quantum_trader.config.settings import load_settings, load_storage_settings
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import fmt, timeframe_ms

app = typer.Typer(help="Paper trading: the main job's decision path, simulated fills.")

#: the options of the former fixed-SMA paper session, and why each is gone
DROPPED = {
    "--fast": "the SMA strategy's; paper runs the full decision path (as `run`)",
    "--slow": "the SMA strategy's; paper runs the full decision path (as `run`)",
    "--notional": "positions are sized by the sizer (QT_SIZER) and the risk engine",
    "--db": "a replay keeps its window's database under $QT_HOME/backtests/, --live-candles "
    "the home's; the kill switch is the home's (QT_HOME or QT_DATABASE_URL)",
}


def refuse_dropped(given: dict[str, object]) -> None:
    """A clear error for an option of the former SMA paper session."""
    for option, value in given.items():
        if value is not None:
            raise typer.BadParameter(f"no longer applies: {DROPPED[option]}", param_hint=option)


def throttle_seconds(timeframe: str, speed: float, symbols: int) -> float:
    """Real seconds slept per replayed candle so the replay runs ``speed`` × real time (the
    session sleeps once per symbol's candle: one timeframe lasts ``timeframe / speed``)."""
    if not speed > 0 or math.isinf(speed):  # NaN fails the first (and paced the replay at 0)
        raise typer.BadParameter(
            f"must be a finite number > 0 (× real time), got {speed}", param_hint="--speed"
        )
    return timeframe_ms(timeframe) / 1000.0 / speed / symbols


def paper_window(
    start: int | None, end: int | None, timeframe: str, max_candles: int | None
) -> tuple[int, int]:
    """The replay's [start, end), cut to its first ``max_candles`` candles."""
    if start is None or end is None:
        raise ConfigError(
            "paper replays a window: give --start and --end (its models train before --start), "
            "or --live-candles"
        )
    if end <= start:
        raise ConfigError(f"--end {fmt(end)} must be after --start {fmt(start)}")
    if max_candles is not None:
        end = min(end, start + max_candles * timeframe_ms(timeframe))
    return start, end


def run_paper(
    console: Console,
    overrides: dict[str, Any],
    *,
    window: tuple[int, int] | None,
    speed: float,
    max_candles: int | None,
    run_id: str | None,
) -> RunResult:
    """The paper run: a paced window replay, or (``window`` None) ``run`` on live candles."""

    def stage(text: str) -> None:
        console.print(f"  {text}")

    symbols, timeframe = overrides["symbols"], overrides["timeframe"]
    if window is None:
        settings = load_settings(**overrides)
        if settings.offline:
            raise ConfigError("--live-candles needs the network, and QT_OFFLINE=true forbids it")
        console.print(
            f"paper: the last {settings.replay_days} days replayed (QT_REPLAY_DAYS), then live "
            f"closed candles of {', '.join(symbols)} {timeframe} (Ctrl-C stops)"
        )
        options = RunOptions(live_max_candles=max_candles, produced_by="paper")
        return run_main_job(
            settings, run_id=run_id, on_stage=stage, options=options, gate_replay=replay_window
        )
    start, end = window
    settings = ai_settings(overrides, start, end)
    # the operator's kill switch is the home's, not the window's own database's
    home_switch = SqlRiskRepository(open_settings_database(load_storage_settings()))
    throttle = throttle_seconds(timeframe, speed, len(symbols))
    console.print(
        f"paper replay {fmt(start)} → {fmt(end)} of {', '.join(symbols)} {timeframe} at "
        f"{speed:g}× real time; models trained on the {settings.train_days} days before, kept "
        f"in {Path(settings.effective_artifacts_dir).parent}"
    )
    options = RunOptions(throttle_s=throttle, kill_switch=home_switch, produced_by="paper")
    return run_main_job(
        settings,
        run_id=run_id,
        window=window,
        on_stage=stage,
        options=options,
        gate_replay=replay_window,
    )


@app.command(context_settings={"allow_extra_args": True})
def paper(
    ctx: typer.Context,
    symbols: Annotated[list[str], typer.Option("--symbols", help="e.g. --symbols BTCUSDT ETHUSDT")],
    timeframe: str = typer.Option("1h", "--timeframe"),
    start: str | None = typer.Option(None, "--start", help="replay: first candle (ISO, UTC)"),
    end: str | None = typer.Option(None, "--end", help="replay: end, exclusive (ISO, UTC)"),
    speed: float = typer.Option(3600.0, "--speed", help="replay speed (× real time)"),
    live_candles: bool = typer.Option(
        False, "--live-candles", help="replay QT_REPLAY_DAYS, then Binance closed candles"
    ),
    max_candles: int | None = typer.Option(
        None, "--max-candles", min=1, help="replay: the window's first N; live: stop after N"
    ),
    balance: float | None = typer.Option(None, "--balance", help="default: QT_INITIAL_BALANCE"),
    run_id: str = typer.Option("", "--run-id", callback=run_id_option),
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
    fast: int | None = typer.Option(None, "--fast", hidden=True),
    slow: int | None = typer.Option(None, "--slow", hidden=True),
    notional: float | None = typer.Option(None, "--notional", hidden=True),
    db: str | None = typer.Option(None, "--db", hidden=True),
) -> None:
    """Paper-trade through the main job's decision path and risk engine: a paced replay of
    [--start, --end), or --live-candles; print the metrics and the report's path."""
    refuse_dropped({"--fast": fast, "--slow": slow, "--notional": notional, "--db": db})
    known_timeframe(timeframe)
    symbols = [*symbols, *[a for a in ctx.args if not a.startswith("-")]]
    console = Console()
    overrides: dict[str, Any] = {"symbols": symbols, "timeframe": timeframe}
    overrides["data_dir"] = data_dir or default_data_dir()
    if balance is not None:
        overrides["initial_balance"] = balance
    window = None
    if live_candles:
        if start or end:
            raise ConfigError("--start/--end are a replay's; --live-candles trades what closes now")
    else:
        window = paper_window(
            _parse_day(start, "--start"), _parse_day(end, "--end"), timeframe, max_candles
        )
    try:
        result = run_paper(
            console,
            overrides,
            window=window,
            speed=speed,
            max_candles=max_candles,
            run_id=run_id or None,
        )
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/] (Ctrl-C): what was committed is kept")
        raise typer.Exit(130) from None
    if result.metrics is not None:
        console.print(metrics_table(result.metrics.to_dict()))
    console.print(f"run {result.run_id}: report {result.outputs.get('report')}")


if __name__ == "__main__":
    app()
