"""Per-block highs and lows of a symbol's candles: whether a price may be reached in a stretch,
answered without scanning every candle (the simulated exchange's fast-forward)."""

from __future__ import annotations

import numpy as np

from quantum_trader.domain.columns import CandleColumns

_BLOCK = 64  # candles per block of the block extremes


class Reach:
    """Where a symbol's candles can reach a liquidation price, answered without searching a
    stretch candle by candle (fast-forward asks once per stretch).

    Two levels: the lowest low and the highest high from each candle to the end of the data
    (with low leverage a long's price is almost always out of reach for good), and the same
    extremes per block of ``_BLOCK`` candles, as Python lists (a short's price at 1x, twice
    its entry, is often reached some day, but hardly ever within the stretch's one or two
    blocks). Only when both say "maybe" is the stretch itself searched.
    """

    __slots__ = ("bars", "block_high", "block_low", "high_after", "low_after")

    def __init__(self, bars: CandleColumns) -> None:
        self.bars = bars
        self.low_after = np.minimum.accumulate(bars.low[::-1])[::-1]
        self.high_after = np.maximum.accumulate(bars.high[::-1])[::-1]
        pad = (0, -len(bars.low) % _BLOCK)
        lows = np.pad(bars.low, pad, constant_values=np.inf)
        highs = np.pad(bars.high, pad, constant_values=-np.inf)
        self.block_low: list[float] = lows.reshape(-1, _BLOCK).min(axis=1).tolist()
        self.block_high: list[float] = highs.reshape(-1, _BLOCK).max(axis=1).tolist()

    def low_may_reach(self, start: int, stop: int, price: float) -> bool:
        """False when no low of candles ``[start, stop)`` is at or below ``price``."""
        return self.low_after.item(start) <= price and (
            min(self.block_low[start // _BLOCK : (stop - 1) // _BLOCK + 1]) <= price
        )

    def high_may_reach(self, start: int, stop: int, price: float) -> bool:
        """False when no high of candles ``[start, stop)`` is at or above ``price``."""
        return self.high_after.item(start) >= price and (
            max(self.block_high[start // _BLOCK : (stop - 1) // _BLOCK + 1]) >= price
        )
