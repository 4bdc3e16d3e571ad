"""Market-data figures: store load (with validation), guard reads, generator speed.

Runs on a synthetic 1h series of the shared files' length (31,973 candles), so it needs no data.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.clock import SimulatedClock
from quantum_trader.data.guard import GuardedCandleFeed
from quantum_trader.data.synthetic import SyntheticConfig, generate_market
from quantum_trader.data.validation import validate_ohlcv
from quantum_trader.domain.time import MS_PER_HOUR

ROWS = 31_973


def per_call(fn: object, n: int) -> float:
    assert callable(fn)
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def main() -> None:
    t0 = time.perf_counter()
    [series] = generate_market(SyntheticConfig(seed=1, candles=ROWS), ["BTCUSDT"])
    print(f"generate {ROWS:,} synthetic candles: {(time.perf_counter() - t0) * 1e3:.0f} ms")
    frame = series.frame
    ms = per_call(lambda: validate_ohlcv(frame, "1h", "bench"), 20) * 1e3
    print(f"validate {ROWS:,} candles: {ms:.1f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        store = CandleStore(Path(tmp))
        t0 = time.perf_counter()
        store.write(series.symbol, "1h", frame, synthetic=True)
        print(f"write (validate + atomic Parquet): {(time.perf_counter() - t0) * 1e3:.0f} ms")
        ms = per_call(lambda: store.load(series.symbol, "1h"), 20) * 1e3
        print(f"load {ROWS:,} candles (read + validate): {ms:.1f} ms")
    clock = SimulatedClock(int(frame.open_time.iloc[0]))
    feed = GuardedCandleFeed(clock)
    feed.add(series.symbol, "1h", frame)
    clock.advance_to(int(frame.open_time.iloc[ROWS // 2]) + MS_PER_HOUR)
    us = per_call(lambda: feed.last_closed(series.symbol, "1h", 64), 100_000) * 1e6
    print(f"guard last_closed(64): {us:.2f} µs per read")
    us = per_call(lambda: feed.latest(series.symbol, "1h"), 50_000) * 1e6
    print(f"guard latest() as a Candle: {us:.2f} µs per read")


if __name__ == "__main__":
    main()
