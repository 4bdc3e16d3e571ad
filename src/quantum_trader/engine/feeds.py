"""Candle sources for the engine: a replay of stored candles, merged across symbols in time order.

The engine consumes closed candles ordered by close time, then symbol; that order is what makes a
multi-symbol replay deterministic. A source that goes backwards is an error, never re-sorted.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantum_trader.domain.errors import DataError
from quantum_trader.domain.market import Candle
from quantum_trader.domain.time import fmt, timeframe_ms
from quantum_trader.engine.engine import BarColumns


class ReplayFeed:
    """Replays candle frames (one per symbol) in close-time order.

    Each frame has columns open_time (int ms), open, high, low, close, volume, sorted by open_time.
    Candles closing together come in ``symbols`` order: the ``first`` symbols (by default the
    cross-asset BTCUSDT, whose candle other symbols' features read at the same time), then the
    rest alphabetically.
    """

    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame],
        timeframe: str,
        *,
        first: Sequence[str] = ("BTCUSDT",),
    ) -> None:
        self._timeframe = timeframe
        self._first = tuple(first)
        self._step = timeframe_ms(timeframe)
        self._arrays: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        for symbol, frame in frames.items():
            times = frame["open_time"].to_numpy(dtype=np.int64)
            if len(times) > 1 and bool(np.any(np.diff(times) <= 0)):
                bad = int(np.argmax(np.diff(times) <= 0))
                raise DataError(
                    f"{symbol} {timeframe}: open times not increasing at row {bad + 1}: "
                    f"{fmt(int(times[bad]))} then {fmt(int(times[bad + 1]))}"
                )
            values = frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)
            self._arrays[symbol] = (times, values)

    @property
    def symbols(self) -> list[str]:
        """The order of candles that close at the same time."""
        leading = [s for s in self._first if s in self._arrays]
        return leading + sorted(s for s in self._arrays if s not in leading)

    def __len__(self) -> int:
        return sum(len(t) for t, _ in self._arrays.values())

    def columns(self, symbol: str) -> BarColumns:
        """One symbol's candles as columns, for :meth:`Engine.run_columns` (fast-forward)."""
        times, values = self._arrays[symbol]
        return BarColumns(
            symbol,
            times,
            times + self._step,
            np.ascontiguousarray(values[:, 0]),
            np.ascontiguousarray(values[:, 1]),
            np.ascontiguousarray(values[:, 2]),
            np.ascontiguousarray(values[:, 3]),
            np.ascontiguousarray(values[:, 4]),
            values,
        )

    def bars(
        self, start: int = 0
    ) -> Iterator[tuple[str, int, int, float, float, float, float, float]]:
        """The merged stream as scalar tuples, skipping the first ``start`` (a resume cursor).

        Same order as iterating the feed (close time, then symbol), built once with numpy so the
        replay loop does no heap work per candle.
        """
        symbols = self.symbols
        if not symbols:
            return iter(())
        closes = np.concatenate([self._arrays[s][0] + self._step for s in symbols])
        sym_idx = np.concatenate(
            [np.full(len(self._arrays[s][0]), i, dtype=np.int64) for i, s in enumerate(symbols)]
        )
        values = np.concatenate([self._arrays[s][1] for s in symbols])
        order = np.lexsort((sym_idx, closes))[start:]
        names = [symbols[i] for i in sym_idx[order].tolist()]
        close_list = closes[order].tolist()
        open_list = (closes[order] - self._step).tolist()
        cols = values[order]
        return zip(
            names,
            open_list,
            close_list,
            cols[:, 0].tolist(),
            cols[:, 1].tolist(),
            cols[:, 2].tolist(),
            cols[:, 3].tolist(),
            cols[:, 4].tolist(),
            strict=True,
        )

    def __iter__(self) -> Iterator[Candle]:
        rank = {s: r for r, s in enumerate(self.symbols)}
        heap: list[tuple[int, int, str, int]] = []
        for symbol, (times, _) in self._arrays.items():
            if len(times):
                heap.append((int(times[0]) + self._step, rank[symbol], symbol, 0))
        heapq.heapify(heap)
        while heap:
            close_time, r, symbol, i = heapq.heappop(heap)
            times, values = self._arrays[symbol]
            o, h, lo, c, v = values[i]
            yield Candle(symbol, self._timeframe, close_time - self._step, o, h, lo, c, v)
            if i + 1 < len(times):
                heapq.heappush(heap, (int(times[i + 1]) + self._step, r, symbol, i + 1))
