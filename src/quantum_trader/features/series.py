"""Typed column records the feature pipeline reads: candles and funding as numpy arrays."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantum_trader.domain.errors import DataError
from quantum_trader.domain.market import Candle

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CandleSeries:
    """One symbol's candles, oldest first; ``open_time`` in epoch ms UTC."""

    symbol: str
    timeframe: str
    open_time: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        n = len(self.open_time)
        for name in ("open", "high", "low", "close", "volume"):
            column: FloatArray = getattr(self, name)
            if len(column) != n:
                raise DataError(f"{self.symbol}: column {name} has {len(column)} rows, want {n}")
            bad = ~np.isfinite(column)
            if name != "volume":
                bad |= column <= 0
            if bad.any():
                i = int(np.argmax(bad))
                raise DataError(
                    f"{self.symbol} {self.timeframe}: {name}={column[i]!r} at open_time "
                    f"{int(self.open_time[i])} (row {i}) is not a positive finite price/volume"
                )
        if n > 1 and not (np.diff(self.open_time) > 0).all():
            i = int(np.argmax(np.diff(self.open_time) <= 0)) + 1
            raise DataError(
                f"{self.symbol} {self.timeframe}: open_time goes backwards or repeats at row {i}"
            )

    @classmethod
    def from_frame(cls, symbol: str, timeframe: str, frame: pd.DataFrame) -> CandleSeries:
        """A candle frame (``open_time``, ``open`` … ``volume``, as the store loads it)."""
        return cls(
            symbol,
            timeframe,
            frame["open_time"].to_numpy(dtype=np.int64),
            *(
                frame[c].to_numpy(dtype=np.float64)
                for c in ("open", "high", "low", "close", "volume")
            ),
        )

    def __len__(self) -> int:
        return len(self.open_time)

    def candle(self, i: int) -> Candle:
        """Row ``i`` as a domain candle (what the live path is fed)."""
        return Candle(
            self.symbol,
            self.timeframe,
            int(self.open_time[i]),
            float(self.open[i]),
            float(self.high[i]),
            float(self.low[i]),
            float(self.close[i]),
            float(self.volume[i]),
        )

    def slice(self, start: int, stop: int) -> CandleSeries:
        """Rows ``start:stop`` (views, no copy)."""
        return CandleSeries(
            self.symbol,
            self.timeframe,
            self.open_time[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
        )

    def between(self, start_ms: int, end_ms: int) -> CandleSeries:
        """Candles whose open time lies in ``[start_ms, end_ms]``."""
        lo = int(np.searchsorted(self.open_time, start_ms, side="left"))
        hi = int(np.searchsorted(self.open_time, end_ms, side="right"))
        return self.slice(lo, hi)

    def content_hash(self) -> str:
        """sha256 of the values, for lineage (same data → same hash)."""
        digest = hashlib.sha256(f"{self.symbol}|{self.timeframe}|{len(self)}".encode())
        for column in (self.open_time, self.open, self.high, self.low, self.close, self.volume):
            digest.update(np.ascontiguousarray(column).tobytes())
        return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class FundingSeries:
    """Funding settlements of one symbol: ``time`` epoch ms, ``rate`` as a fraction."""

    symbol: str
    time: IntArray
    rate: FloatArray

    @classmethod
    def from_frame(cls, symbol: str, frame: pd.DataFrame) -> FundingSeries:
        """A funding frame (``funding_time``, ``rate``, as the store loads it)."""
        return cls(
            symbol,
            frame["funding_time"].to_numpy(dtype=np.int64),
            frame["rate"].to_numpy(dtype=np.float64),
        )

    def __post_init__(self) -> None:
        if len(self.time) != len(self.rate):
            raise DataError(
                f"{self.symbol} funding: {len(self.time)} times, {len(self.rate)} rates"
            )
        if not np.isfinite(self.rate).all():
            raise DataError(f"{self.symbol} funding: non-finite rate")
        if len(self.time) > 1 and not (np.diff(self.time) > 0).all():
            raise DataError(f"{self.symbol} funding: times must increase")
