"""``quantum-trader paper``: the backtest engine on the wall clock with the simulated exchange.

Fed either by a replay of stored candles at ``--speed`` × real time, or (``--live-candles``)
by Binance USDT-M closed candles through ccxt (public market data; no keys, no orders sent).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.app.cli.backtest import _parse_day, default_data_dir, print_metrics
from quantum_trader.app.market_data import open_market_data
from quantum_trader.backtester.strategies import SmaCross, SmaCrossConfig
from quantum_trader.clock.clock import Clock, WallClock
from quantum_trader.config import load_settings
from quantum_trader.data.symbols import to_ccxt_perp
from quantum_trader.engine.engine import Bar
from quantum_trader.engine.live_source import CcxtCandleSource, ScaledWallClock, paced
from quantum_trader.engine.session import BarSource, SessionConfig, TradingSession
from quantum_trader.execution.instruments import spec_for

app = typer.Typer(help="Paper trading: the same engine on the wall clock, simulated fills.")


@app.command(context_settings={"allow_extra_args": True})
def paper(
    ctx: typer.Context,
    symbols: Annotated[list[str], typer.Option("--symbols", help="e.g. --symbols BTCUSDT ETHUSDT")],
    timeframe: str = typer.Option("1h", "--timeframe"),
    start: str | None = typer.Option(None, "--start", help="replay: first candle (ISO, UTC)"),
    end: str | None = typer.Option(None, "--end", help="replay: end, exclusive (ISO, UTC)"),
    speed: float = typer.Option(3600.0, "--speed", help="replay speed (× real time)"),
    live_candles: bool = typer.Option(False, "--live-candles", help="poll Binance via ccxt"),
    max_candles: int | None = typer.Option(None, "--max-candles"),
    fast: int = typer.Option(10, "--fast"),
    slow: int = typer.Option(30, "--slow"),
    notional: float = typer.Option(1000.0, "--notional"),
    balance: float = typer.Option(10_000.0, "--balance"),
    db: str | None = typer.Option(None, "--db"),
    run_id: str = typer.Option("", "--run-id"),
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
) -> None:
    """Run a paper session until the source ends (replay), --max-candles, or Ctrl-C."""
    symbols = [*symbols, *[a for a in ctx.args if not a.startswith("-")]]
    console = Console()
    if live_candles:
        # the ccxt import is slow (~0.6 s); only the live mode pays it
        from quantum_trader.adapters.ccxt_market_data import binance_usdm_public

        client = binance_usdm_public()
        frames = {
            s: pd.DataFrame(
                client.fetch_ohlcv(to_ccxt_perp(s), timeframe, limit=200),
                columns=["open_time", "open", "high", "low", "close", "volume"],
            )
            for s in symbols
        }
        wall = WallClock()
        clock: Clock = wall
        source: BarSource = CcxtCandleSource(
            client, symbols, timeframe, wall, max_candles=max_candles
        )
        funding = {}
    else:
        market = open_market_data(load_settings(), timeframe, data_dir or default_data_dir())
        frames = {s: market.candles(s, _parse_day(start), _parse_day(end)) for s in symbols}
        if max_candles is not None:
            frames = {s: f.iloc[:max_candles] for s, f in frames.items()}
        origin = min(int(f["open_time"].iloc[0]) for f in frames.values())
        scaled = ScaledWallClock(origin, speed)
        clock = scaled
        funding = {s: market.funding_rates(s) for s in symbols}
        replay_config = SessionConfig(timeframe)
        replay = TradingSession(replay_config, frames, SmaCross()).feed

        def replay_source(last_close: Mapping[str, int]) -> Iterator[Bar]:
            # on a resume, skip what the interrupted session already processed
            pending = (b for b in replay.bars() if b[2] > last_close.get(b[0], -1))
            return paced(pending, scaled)

        source = replay_source

    specs = {s: spec_for(s, f["close"].head(200).tolist()) for s, f in frames.items()}
    sizes = tuple(
        (s, max(specs[s].floor_quantity(notional / float(f["close"].iloc[-1])), specs[s].step_size))
        for s, f in sorted(frames.items())
    )
    runner = TradingSession(
        SessionConfig(timeframe, initial_balance=balance, run_id=run_id),
        frames,
        SmaCross(SmaCrossConfig(fast, slow, quantities=sizes)),
        funding_rates=funding,
        specs=specs,
        store=SqlExecutionStore(open_database(db)) if db else None,
        clock=clock,
        source=source,
    )
    console.print(f"paper session {runner.run_id}: {', '.join(symbols)} {timeframe}")
    result = runner.run(
        progress=lambda n: console.log(f"{n} candle(s) processed"), progress_every=1
    )
    print_metrics(console, result)


if __name__ == "__main__":
    app()
