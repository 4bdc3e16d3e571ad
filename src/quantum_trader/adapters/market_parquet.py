"""Reads the shared Parquet market data into the feature pipeline's column records.

The one place this area touches the files; to be swapped for the candle store when it lands.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from quantum_trader.domain.errors import DataError
from quantum_trader.features.series import CandleSeries, FundingSeries


def _epoch_ms(column: pd.Series) -> np.ndarray:
    return np.asarray(column.astype("datetime64[ns, UTC]").astype("int64") // 1_000_000)


def load_candles(data_dir: Path, symbol: str, timeframe: str) -> CandleSeries:
    """``<data_dir>/ohlcv/<symbol>-<timeframe>.parquet`` as a :class:`CandleSeries`."""
    path = Path(data_dir) / "ohlcv" / f"{symbol}-{timeframe}.parquet"
    if not path.is_file():
        raise DataError(f"no candles for {symbol} {timeframe}: {path} does not exist")
    frame = pd.read_parquet(path)
    return CandleSeries(
        symbol=symbol,
        timeframe=timeframe,
        open_time=_epoch_ms(frame["timestamp"]).astype(np.int64),
        open=frame["open"].to_numpy(np.float64),
        high=frame["high"].to_numpy(np.float64),
        low=frame["low"].to_numpy(np.float64),
        close=frame["close"].to_numpy(np.float64),
        volume=frame["volume"].to_numpy(np.float64),
    )


def load_funding(data_dir: Path, symbol: str) -> FundingSeries | None:
    """The symbol's funding settlements, or None when the data set has none for it."""
    path = Path(data_dir) / "funding" / f"{symbol}-funding.parquet"
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    return FundingSeries(
        symbol=symbol,
        time=_epoch_ms(frame["timestamp"]).astype(np.int64),
        rate=frame["funding_rate"].to_numpy(np.float64),
    )


def available_symbols(data_dir: Path, timeframe: str) -> list[str]:
    """Symbols with a ``<symbol>-<timeframe>.parquet`` file, sorted."""
    suffix = f"-{timeframe}.parquet"
    folder = Path(data_dir) / "ohlcv"
    return sorted(p.name.removesuffix(suffix) for p in folder.glob(f"*{suffix}"))
