"""Reading candles for training: the one place this package touches market-data files.

Swap this for the candle store (``quantum_trader.data``) once it lands; callers only need
``open_time`` (int epoch ms) and ``close``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from quantum_trader.domain.errors import DataError


def read_candles(data_dir: Path, symbol: str, timeframe: str) -> pd.DataFrame:
    """Candles of ``symbol`` at ``timeframe`` with ``open_time`` in epoch ms, sorted, checked."""
    path = data_dir / "ohlcv" / f"{symbol}-{timeframe}.parquet"
    if not path.is_file():
        raise DataError(f"no candles for {symbol} {timeframe}: {path} does not exist")
    frame = pd.read_parquet(path)
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    frame = frame.drop(columns=["timestamp"])
    frame.insert(0, "open_time", (stamps.astype("int64") // 1_000_000).to_numpy(np.int64))
    times = frame["open_time"].to_numpy()
    if len(times) > 1 and not (np.diff(times) > 0).all():
        raise DataError(f"{path}: open times are not strictly increasing")
    closes = frame["close"].to_numpy(np.float64)
    if not (np.isfinite(closes) & (closes > 0)).all():
        raise DataError(f"{path}: close has non-finite or non-positive values")
    return frame.reset_index(drop=True)
