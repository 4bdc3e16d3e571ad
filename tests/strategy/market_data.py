"""The one place the strategy tests read candles from Parquet (swap for the candle store later)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from quantum_trader.domain.market import Candle


def load_candles(data_dir: Path, symbol: str, timeframe: str, start: str, end: str) -> list[Candle]:
    """Candles of ``symbol`` with open time in [start, end) from the shared Parquet files."""
    df = pd.read_parquet(data_dir / "ohlcv" / f"{symbol}-{timeframe}.parquet")
    df = df[
        (df["timestamp"] >= pd.Timestamp(start, tz="UTC"))
        & (df["timestamp"] < pd.Timestamp(end, tz="UTC"))
    ]
    open_ms = df["timestamp"].astype("int64") // 1_000_000
    return [
        Candle(symbol, timeframe, int(t), float(o), float(h), float(lo), float(c), float(v))
        for t, o, h, lo, c, v in zip(
            open_ms, df["open"], df["high"], df["low"], df["close"], df["volume"], strict=True
        )
    ]
