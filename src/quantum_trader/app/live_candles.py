"""Live candles in the main job: kept in the local store, and joined to the replayed ones for
the report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from quantum_trader.adapters.candle_store.store import CandleStore
from quantum_trader.app.live import EXCHANGE
from quantum_trader.data.frames import ohlcv_from_rows
from quantum_trader.engine.engine import Bar
from quantum_trader.engine.live_phase import LiveCandleSink


def _candle_frames(bars: Sequence[Bar]) -> dict[str, pd.DataFrame]:
    """Live candles per symbol, in the store's candle layout."""
    return {
        symbol: ohlcv_from_rows(
            [(bar[1], *bar[3:]) for bar in bars if bar[0] == symbol], f"{symbol} live candles"
        )
        for symbol in sorted({bar[0] for bar in bars})
    }


def keep_in_store(store: CandleStore, timeframe: str) -> LiveCandleSink:
    """Live candles go into the local store, so the next run's replay ends where this one did."""

    def keep(bars: Sequence[Bar]) -> None:
        for symbol, frame in _candle_frames(bars).items():
            store.append(symbol, timeframe, frame, source=f"{EXCHANGE} live")

    return keep


def with_live(frames: Mapping[str, pd.DataFrame], live: Sequence[Bar]) -> dict[str, pd.DataFrame]:
    """The replayed candles followed by the live ones: what the report charts."""
    out = dict(frames)
    for symbol, extra in _candle_frames(live).items():
        out[symbol] = pd.concat([frames[symbol], extra], ignore_index=True)
    return out
