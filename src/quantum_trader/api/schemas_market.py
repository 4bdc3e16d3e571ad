"""The bodies of the market routes: stored candles and the buy-and-hold benchmark. Times are
epoch milliseconds, UTC."""

from __future__ import annotations

from quantum_trader.api.schemas import Out


class CandleOut(Out):
    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class CandlesOut(Out):
    symbol: str
    timeframe: str
    total: int  # the stored candles in the asked range, before ``limit`` kept the newest
    candles: list[CandleOut]  # oldest first


class BenchmarkPointOut(Out):
    time: int
    value: float  # the buy-and-hold portfolio's value at ``time``
    equity: float  # the run's equity at the same point, for comparison


class BenchmarkOut(Out):
    """Buy-and-hold over the last run's span: the initial equity split equally over the run's
    symbols at the first equity point's prices, held to the end, no fees or funding."""

    run_id: str | None  # None: no run recorded
    timeframe: str
    symbols: list[str]  # the symbols held (the run's, with candles at its start)
    missing: list[str]  # the run's symbols without stored candles at its start: left out
    initial_equity: float | None
    total_return: float | None  # last value / initial equity − 1
    step: int  # 1: every equity point; k: every k-th, and the last
    points: list[BenchmarkPointOut]
