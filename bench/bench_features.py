"""Cost of the streaming feature update per candle: base set, extended and universe (issue 24).

For BTCUSDT and ETHUSDT 1h (with funding and, for ETH, the BTC candle as market), one
``StreamingFeatures.update`` per candle over the last CANDLES candles, timed one call at a time;
the base, the extended and the universe state alternate candle by candle so the machine's noise
falls on all alike. The universe state shares its cross-sections with PEERS, whose states are fed
the same hours untimed (without a market candle: only their returns matter here), so every
measured row reads a cross-section of three symbols. Prints the median, p99 and p99.9 in µs per
call for each set and the ratios of medians.
The pipeline's budget is a decision p99 of 3 ms with everything on; the feature update is one part
of it.

Run: ``QT_DATA_DIR=../shared/data python bench/bench_features.py``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.domain.market import Candle, FundingRate
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.features.pipeline import FeatureConfig, StreamingFeatures
from quantum_trader.features.series import CandleSeries
from quantum_trader.features.universe import UniverseFeatures

CANDLES = 20_000
PEERS = ("SOLUSDT", "LINKUSDT")
UNIVERSE = FeatureConfig(extended=True, universe=True)


def candles_of(series: CandleSeries) -> list[Candle]:
    return [series.candle(i) for i in range(len(series))]


def settlements(store: CandleStore, symbol: str, candles: list[Candle]) -> list[list[FundingRate]]:
    """Per candle, the funding settlements first known at its close."""
    funding = store.funding_series(symbol)
    out: list[list[FundingRate]] = [[] for _ in candles]
    if funding is None:
        return out
    closes = np.array([c.open_time + MS_PER_HOUR for c in candles])
    first = np.searchsorted(closes, funding.time, side="right")  # first close after settling
    for k, i in enumerate(first.tolist()):
        if i < len(candles):
            out[i].append(FundingRate(symbol, int(funding.time[k]), float(funding.rate[k])))
    return out


def measure(store: CandleStore, symbol: str) -> None:
    series = store.series(symbol, "1h")
    series = series.slice(len(series) - CANDLES, len(series))
    candles = candles_of(series)
    market = None
    if symbol != "BTCUSDT":
        btc = store.series("BTCUSDT", "1h")
        by_time = {c.open_time: c for c in candles_of(btc.slice(len(btc) - CANDLES - 50, len(btc)))}
        market = [by_time.get(c.open_time) for c in candles]
    funding = settlements(store, symbol, candles)
    universe = UniverseFeatures("1h")
    states = {
        "base": StreamingFeatures(symbol, "1h", FeatureConfig()),
        "extended": StreamingFeatures(symbol, "1h", FeatureConfig(extended=True)),
        "universe": StreamingFeatures(symbol, "1h", UNIVERSE, universe),
    }
    peers = []
    for peer in PEERS:
        peer_series = store.series(peer, "1h")
        by_time = {
            c.open_time: c
            for c in candles_of(peer_series.between(series.open_time[0], series.open_time[-1]))
        }
        peers.append((StreamingFeatures(peer, "1h", UNIVERSE, universe), by_time))
    took: dict[str, list[float]] = {name: [] for name in states}
    for i, candle in enumerate(candles):
        m = None if market is None else market[i]
        for state, by_time in peers:
            peer_candle = by_time.get(candle.open_time)
            if peer_candle is not None:
                state.update(peer_candle)
        for name, state in states.items():
            t0 = time.perf_counter()
            state.update(candle, funding[i] or None, m)
            took[name].append(time.perf_counter() - t0)
    medians = {}
    for name, values in took.items():
        us = np.asarray(values[1_000:]) * 1e6  # after the warm-up
        medians[name] = float(np.median(us))
        print(
            f"{symbol} {name:8s} ({len(states[name].names)} features): median "
            f"{medians[name]:.1f} µs, p99 {np.percentile(us, 99):.1f} µs, "
            f"p99.9 {np.percentile(us, 99.9):.1f} µs per candle"
        )
    print(
        f"{symbol} median / base: extended {medians['extended'] / medians['base']:.2f}, "
        f"universe {medians['universe'] / medians['base']:.2f}"
    )


def main() -> None:
    store = CandleStore(Path(os.environ.get("QT_DATA_DIR", "../shared/data")))
    for symbol in ("BTCUSDT", "ETHUSDT"):
        measure(store, symbol)


if __name__ == "__main__":
    main()
