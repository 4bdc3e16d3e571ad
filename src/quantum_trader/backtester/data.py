"""Reading stored candles and funding rates for a replay.

The one place that reads the shared Parquet files; the candle store being built in
``quantum_trader.data`` can replace it without touching the runner.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from quantum_trader.domain.errors import DataError
from quantum_trader.domain.market import FundingRate


def load_candles(
    data_dir: Path, symbol: str, timeframe: str, start: int | None = None, end: int | None = None
) -> pd.DataFrame:
    """Candles with open_time (int ms) in ``[start, end)``, columns open_time, open … volume."""
    path = data_dir / "ohlcv" / f"{symbol}-{timeframe}.parquet"
    if not path.exists():
        raise DataError(f"no candles for {symbol} {timeframe}: {path} does not exist")
    frame = pd.read_parquet(path)
    open_time = frame["timestamp"].astype("datetime64[ms, UTC]").astype(np.int64)
    out = pd.DataFrame(
        {
            "open_time": open_time.to_numpy(),
            **{
                c: frame[c].to_numpy(dtype=np.float64)
                for c in ("open", "high", "low", "close", "volume")
            },
        }
    )
    if start is not None:
        out = out[out["open_time"] >= start]
    if end is not None:
        out = out[out["open_time"] < end]
    if out.empty:
        raise DataError(f"no {symbol} {timeframe} candles in the requested range ({path})")
    return out.reset_index(drop=True)


def load_funding(data_dir: Path, symbol: str) -> list[FundingRate]:
    """Recorded funding settlements of ``symbol`` ([] when none are stored)."""
    path = data_dir / "funding" / f"{symbol}-funding.parquet"
    if not path.exists():
        return []
    frame = pd.read_parquet(path)
    times = frame["timestamp"].astype("datetime64[ms, UTC]").astype(np.int64).tolist()
    rates = frame["funding_rate"].to_numpy(dtype=np.float64).tolist()
    return [FundingRate(symbol, int(t), float(r)) for t, r in zip(times, rates, strict=True)]
