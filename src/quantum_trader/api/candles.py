"""Candles for the API from the market-data store, and buy-and-hold over the last run's span.

The database holds no candles (the engine reads them from the candle store), so ``serve``
hands the app a :class:`CandleReader` over ``CandleStore(settings.effective_store_dir)``; the
tests hand it a temporary store. Reads only: nothing here imports or fetches data.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.adapters.sql.tables_execution import equity_snapshots, exec_fills
from quantum_trader.api.reads_portfolio import last_run_id, sample_step, sampled
from quantum_trader.api.schemas_market import (
    BenchmarkOut,
    BenchmarkPointOut,
    CandleOut,
    CandlesOut,
)
from quantum_trader.clock.clock import Clock


class CandleReader(Protocol):
    """What the market routes read: the stored symbols of a timeframe and their candles."""

    def symbols(self, timeframe: str) -> list[str]: ...

    def load(
        self, symbol: str, timeframe: str, start: int | None = None, end: int | None = None
    ) -> pd.DataFrame: ...


class StoreCandleReader:
    """A :class:`CandleReader` over the candle store (Parquet, validated on every load)."""

    def __init__(self, store: CandleStore) -> None:
        self._store = store

    def symbols(self, timeframe: str) -> list[str]:
        return self._store.symbols(timeframe)

    def load(
        self, symbol: str, timeframe: str, start: int | None = None, end: int | None = None
    ) -> pd.DataFrame:
        return self._store.load(symbol, timeframe, start, end)


class UnknownSeries(LookupError):
    """No stored candles of that symbol and timeframe (the route answers 404)."""


def candles(
    reader: CandleReader,
    symbol: str,
    timeframe: str,
    limit: int,
    start: int | None = None,
    end: int | None = None,
) -> CandlesOut:
    """The newest ``limit`` stored candles with ``start <= open_time < end``, oldest first."""
    if symbol not in reader.symbols(timeframe):
        raise UnknownSeries(f"no {symbol} {timeframe} candles in the candle store")
    frame = reader.load(symbol, timeframe, start, end)
    kept = frame.iloc[-limit:] if limit < len(frame) else frame
    out = [
        CandleOut(open_time=int(t), open=o, high=h, low=lo, close=c, volume=v)
        for t, o, h, lo, c, v in zip(
            kept["open_time"].tolist(), kept["open"].tolist(), kept["high"].tolist(),
            kept["low"].tolist(), kept["close"].tolist(), kept["volume"].tolist(), strict=True,
        )
    ]  # fmt: skip
    return CandlesOut(symbol=symbol, timeframe=timeframe, total=len(frame), candles=out)


def _run_curve(engine: Engine, run_id: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    e, f = equity_snapshots, exec_fills
    with engine.connect() as conn:
        curve = conn.execute(
            select(e.c.time, e.c.equity).where(e.c.run_id == run_id).order_by(e.c.time)
        ).all()
        symbols = conn.execute(
            select(f.c.symbol).where(f.c.run_id == run_id).distinct().order_by(f.c.symbol)
        ).scalars()
        names = [str(s) for s in symbols]
    times = np.array([int(t) for t, _ in curve], dtype=np.int64)
    values = np.array([float(v) for _, v in curve], dtype=np.float64)
    return times, values, names


def closes_at(frame: pd.DataFrame, times: np.ndarray) -> np.ndarray | None:
    """Per time, the close of the last candle that opened at or before it; None when the
    series starts after the first time (no price to buy at).

    >>> f = pd.DataFrame({"open_time": [0, 10, 20], "close": [1.0, 2.0, 3.0]})
    >>> closes_at(f, np.array([0, 15, 25])).tolist()
    [1.0, 2.0, 3.0]
    >>> closes_at(f, np.array([-1, 5])) is None
    True
    """
    index = np.searchsorted(frame["open_time"].to_numpy(), times, side="right") - 1
    if len(index) == 0 or index[0] < 0:
        return None
    return np.asarray(frame["close"].to_numpy(dtype=np.float64)[index])


def benchmark(
    engine: Engine, clock: Clock, reader: CandleReader, timeframe: str, limit: int
) -> BenchmarkOut:
    """Buy-and-hold over the last run's span: the first equity point's equity split equally
    over the run's symbols (those it filled) at that time's closes, marked at each equity
    point's time: ``E0 × mean_i(close_i(t) / close_i(t0))``, thinned like ``/equity``."""
    run_id = last_run_id(engine, clock)
    empty = BenchmarkOut(
        run_id=run_id, timeframe=timeframe, symbols=[], missing=[], initial_equity=None,
        total_return=None, step=1, points=[],
    )  # fmt: skip
    if run_id is None:
        return empty
    times, equity, symbols = _run_curve(engine, run_id)
    if len(times) == 0:
        return empty.model_copy(update={"missing": symbols})
    stored = set(reader.symbols(timeframe))
    relative: list[np.ndarray] = []
    held: list[str] = []
    for symbol in symbols:
        if symbol not in stored:
            continue
        closes = closes_at(reader.load(symbol, timeframe, None, int(times[-1]) + 1), times)
        if closes is not None and closes[0] > 0:
            relative.append(closes / closes[0])
            held.append(symbol)
    if not held:
        return empty.model_copy(update={"missing": symbols, "initial_equity": float(equity[0])})
    values = float(equity[0]) * np.mean(np.vstack(relative), axis=0)
    return BenchmarkOut(
        run_id=run_id,
        timeframe=timeframe,
        symbols=held,
        missing=[s for s in symbols if s not in held],
        initial_equity=float(equity[0]),
        total_return=float(values[-1] / equity[0] - 1.0) if equity[0] else None,
        step=sample_step(len(times), limit),
        points=[
            BenchmarkPointOut(time=int(times[i]), value=float(values[i]), equity=float(equity[i]))
            for i in sampled(len(times), limit)
        ],
    )
