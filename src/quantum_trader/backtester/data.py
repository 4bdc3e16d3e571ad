"""Candles and funding rates for a replay, as the runner takes them (frames, FundingRate lists).

The files are read by :mod:`quantum_trader.adapters.market_parquet`; this module only slices
and converts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from quantum_trader.adapters import market_parquet
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.market import FundingRate


def load_candles(
    data_dir: Path, symbol: str, timeframe: str, start: int | None = None, end: int | None = None
) -> pd.DataFrame:
    """Candles with open_time (int ms) in ``[start, end)``, columns open_time, open … volume."""
    series = market_parquet.load_candles(data_dir, symbol, timeframe)
    times = series.open_time
    keep = np.ones(len(times), dtype=bool)
    if start is not None:
        keep &= times >= start
    if end is not None:
        keep &= times < end
    if not keep.any():
        raise DataError(f"no {symbol} {timeframe} candles in the requested range ({data_dir})")
    columns = ("open", "high", "low", "close", "volume")
    return pd.DataFrame(
        {"open_time": times[keep], **{c: getattr(series, c)[keep] for c in columns}}
    )


def load_funding(data_dir: Path, symbol: str) -> list[FundingRate]:
    """Recorded funding settlements of ``symbol`` ([] when none are stored)."""
    series = market_parquet.load_funding(data_dir, symbol)
    if series is None:
        return []
    return [
        FundingRate(symbol, int(t), float(r))
        for t, r in zip(series.time.tolist(), series.rate.tolist(), strict=True)
    ]
