"""A small real-data slice for tests: hourly candles read straight from the shared Parquet.

The project's candle store is being built in parallel; this one function is what to swap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = ("ret_1", "ret_4", "range", "log_volume_change")


def load_candles(data_dir: Path, symbol: str, rows: int, timeframe: str = "1h") -> pd.DataFrame:
    """The first ``rows`` candles of ``symbol``; ``open_time`` as int epoch ms."""
    frame = pd.read_parquet(data_dir / "ohlcv" / f"{symbol}-{timeframe}.parquet").head(rows)
    frame["open_time"] = frame["timestamp"].astype("int64") // 1_000_000
    return frame.drop(columns=["timestamp"]).reset_index(drop=True)


def simple_features(candles: pd.DataFrame) -> np.ndarray:
    """Lagged log returns, the candle's range and the volume change: rows with NaN dropped."""
    close = candles["close"].to_numpy()
    logc = np.log(close)
    out = np.column_stack(
        [
            np.r_[np.nan, np.diff(logc)],
            np.r_[[np.nan] * 4, logc[4:] - logc[:-4]],
            (candles["high"] - candles["low"]).to_numpy() / close,
            np.r_[np.nan, np.diff(np.log(candles["volume"].to_numpy() + 1.0))],
        ]
    )
    return out[~np.isnan(out).any(axis=1)]
