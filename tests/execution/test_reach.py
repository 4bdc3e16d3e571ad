"""The exchange's fast-forward reach test never calls a reachable price out of reach."""

from __future__ import annotations

import numpy as np

from quantum_trader.engine.engine import BarColumns
from quantum_trader.execution.simulated.reach import Reach


def _columns(n: int, seed: int) -> BarColumns:
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 1.0, n))
    high = close + rng.uniform(0.0, 2.0, n)
    low = close - rng.uniform(0.0, 2.0, n)
    open_time = np.arange(n, dtype=np.int64) * 60_000
    return BarColumns("X", open_time, open_time + 59_999, close, high, low, close, close * 0)


def test_reach_agrees_with_a_search_of_the_stretch() -> None:
    bars = _columns(1_000, seed=3)  # not a multiple of the block size: the last block is short
    reach = Reach(bars)
    rng = np.random.default_rng(4)
    for _ in range(2_000):
        start = int(rng.integers(0, 999))
        stop = int(rng.integers(start + 1, 1_001))
        price = float(rng.uniform(bars.low.min() - 1, bars.high.max() + 1))
        if bars.low[start:stop].min() <= price:
            assert reach.low_may_reach(start, stop, price)
        if bars.high[start:stop].max() >= price:
            assert reach.high_may_reach(start, stop, price)
        # and "out of reach" is exact at block resolution: no false alarm across whole blocks
        if start % 64 == 0 and stop % 64 == 0:
            assert reach.low_may_reach(start, stop, price) == (bars.low[start:stop].min() <= price)
