"""Read guard: candles are served only once they are closed at the clock's now.

A candle opened at ``t`` closes at ``t + timeframe``; asking for it before then is look-ahead
and raises :class:`LookAheadError` naming the candle's close time and the clock's now. Reading
at exactly the close time is allowed.

The engine asks "the last N closed candles" per symbol per candle, so series are preloaded into
numpy arrays once and each read is a ``searchsorted`` plus slicing (views, read-only).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantum_trader.clock import Clock
from quantum_trader.data.evidence import Counters
from quantum_trader.data.frames import OHLCV_COLUMNS
from quantum_trader.data.ports import CandleLoader, EvidenceCounter
from quantum_trader.domain.errors import DataError, LookAheadError
from quantum_trader.domain.market import Candle
from quantum_trader.domain.time import fmt, timeframe_ms

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CandleWindow:
    """Consecutive candles as read-only arrays (views into the preloaded series)."""

    open_time: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64

    def __len__(self) -> int:
        return len(self.open_time)


@dataclass(frozen=True, slots=True)
class _Series:
    symbol: str
    timeframe: str
    step: int
    open_time: I64
    close_time: I64
    columns: tuple[F64, F64, F64, F64, F64]


def _readonly(arr: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    arr = np.ascontiguousarray(arr)
    arr.flags.writeable = False
    return arr


class GuardedCandleFeed:
    """Preloaded candle series behind a :class:`Clock`; refuses reads of unclosed candles.

    >>> from quantum_trader.clock import SimulatedClock
    >>> clock = SimulatedClock(2 * 3_600_000)
    >>> feed = GuardedCandleFeed(clock)
    >>> feed.add("BTCUSDT", "1h", pd.DataFrame({"open_time": [0, 3_600_000, 7_200_000],
    ...     "open": [1.0] * 3, "high": [2.0] * 3, "low": [0.5] * 3, "close": [1.5] * 3,
    ...     "volume": [1.0] * 3}))
    >>> feed.last_closed("BTCUSDT", "1h", 5).open_time.tolist()
    [0, 3600000]
    >>> feed.candle("BTCUSDT", "1h", 7_200_000)
    Traceback (most recent call last):
    ...
    quantum_trader.domain.errors.LookAheadError: BTCUSDT 1h candle opened 1970-01-01T02:00:00Z closes at 1970-01-01T03:00:00Z, after the clock's now 1970-01-01T02:00:00Z: look-ahead refused
    """

    def __init__(self, clock: Clock, counters: EvidenceCounter | None = None) -> None:
        self._clock = clock
        self._series: dict[tuple[str, str], _Series] = {}
        self.counters = Counters(counters)

    @classmethod
    def from_source(
        cls,
        source: CandleLoader,
        clock: Clock,
        symbols: Iterable[str],
        timeframe: str,
        *,
        start: int | None = None,
        end: int | None = None,
        counters: EvidenceCounter | None = None,
    ) -> GuardedCandleFeed:
        """Preload ``symbols`` from a store (validated there) into a new feed."""
        feed = cls(clock, counters)
        for symbol in symbols:
            feed.add(symbol, timeframe, source.load(symbol, timeframe, start, end))
        return feed

    def add(self, symbol: str, timeframe: str, frame: pd.DataFrame) -> None:
        """Preload one series; it must be sorted with unique open times (a store load is)."""
        step = timeframe_ms(timeframe)
        missing = [c for c in OHLCV_COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"{symbol} {timeframe}: frame lacks columns {missing}")
        open_time = frame["open_time"].to_numpy(dtype=np.int64)
        if len(open_time) > 1 and not bool((np.diff(open_time) > 0).all()):
            raise DataError(f"{symbol} {timeframe}: open times must be strictly increasing")
        cols = tuple(_readonly(frame[c].to_numpy(dtype=np.float64)) for c in OHLCV_COLUMNS[1:])
        self._series[(symbol, timeframe)] = _Series(
            symbol=symbol,
            timeframe=timeframe,
            step=step,
            open_time=_readonly(open_time),  # type: ignore[arg-type]
            close_time=_readonly(open_time + step),  # type: ignore[arg-type]
            columns=cols,  # type: ignore[arg-type]
        )

    def _get(self, symbol: str, timeframe: str) -> _Series:
        try:
            return self._series[(symbol, timeframe)]
        except KeyError:
            loaded = ", ".join(f"{s} {t}" for s, t in self._series) or "none"
            raise DataError(
                f"{symbol} {timeframe} is not loaded in the feed (loaded: {loaded})"
            ) from None

    def _window(self, s: _Series, lo: int, hi: int) -> CandleWindow:
        self.counters.count("reads")
        return CandleWindow(s.open_time[lo:hi], *(col[lo:hi] for col in s.columns))

    def _refuse(self, s: _Series, open_time: int, now: int) -> LookAheadError:
        self.counters.count("lookahead_refusals")
        return LookAheadError(
            f"{s.symbol} {s.timeframe} candle opened {fmt(open_time)} closes at "
            f"{fmt(open_time + s.step)}, after the clock's now {fmt(now)}: look-ahead refused"
        )

    def closed_count(self, symbol: str, timeframe: str) -> int:
        """How many preloaded candles are closed at now."""
        s = self._get(symbol, timeframe)
        return int(np.searchsorted(s.close_time, self._clock.now(), side="right"))

    def last_closed(self, symbol: str, timeframe: str, n: int) -> CandleWindow:
        """The last ``n`` candles closed at now (fewer if history is shorter). O(log n)."""
        if n < 0:
            raise ValueError(f"n={n} must be >= 0")
        s = self._get(symbol, timeframe)
        hi = int(np.searchsorted(s.close_time, self._clock.now(), side="right"))
        return self._window(s, max(0, hi - n), hi)

    def window(self, symbol: str, timeframe: str, start: int, end: int) -> CandleWindow:
        """Candles with ``start <= open_time < end``; every one of them must be closed at now."""
        s = self._get(symbol, timeframe)
        now = self._clock.now()
        # the latest grid candle the window asks for must be closed, whether or not it is stored
        last_open = ((end - 1) // s.step) * s.step
        if last_open >= start and last_open + s.step > now:
            raise self._refuse(s, last_open, now)
        lo = int(np.searchsorted(s.open_time, start, side="left"))
        hi = int(np.searchsorted(s.open_time, end, side="left"))
        return self._window(s, lo, hi)

    def candle(self, symbol: str, timeframe: str, open_time: int) -> Candle:
        """The candle opened at ``open_time``; LookAheadError if it has not closed at now."""
        s = self._get(symbol, timeframe)
        now = self._clock.now()
        if open_time + s.step > now:
            raise self._refuse(s, open_time, now)
        i = int(np.searchsorted(s.open_time, open_time, side="left"))
        if i == len(s.open_time) or int(s.open_time[i]) != open_time:
            raise DataError(f"{symbol} {timeframe}: no candle opened at {fmt(open_time)}")
        self.counters.count("reads")
        o, h, lo, c, v = (float(col[i]) for col in s.columns)
        return Candle(symbol, timeframe, open_time, o, h, lo, c, v)

    def latest(self, symbol: str, timeframe: str) -> Candle | None:
        """The most recent closed candle, or None before the first one closes."""
        w = self.last_closed(symbol, timeframe, 1)
        if not len(w):
            return None
        return Candle(
            symbol,
            timeframe,
            int(w.open_time[0]),
            float(w.open[0]),
            float(w.high[0]),
            float(w.low[0]),
            float(w.close[0]),
            float(w.volume[0]),
        )
