"""The CLI commands' market data: read from the candle store, fed once from a data folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.app.market_data import MarketData
from quantum_trader.domain.errors import DataError
from tests.data.fakes import HOUR, candles

START = 1_704_067_200_000


def _folder(tmp_path: Path, frame: pd.DataFrame) -> Path:
    """A folder laid out like the shared data: a ``timestamp`` column, not the store's."""
    folder = tmp_path / "shared"
    (folder / "ohlcv").mkdir(parents=True)
    shared = frame.rename(columns={"open_time": "timestamp"})
    shared["timestamp"] = pd.to_datetime(shared["timestamp"], unit="ms", utc=True)
    shared.to_parquet(folder / "ohlcv" / "BTCUSDT-1h.parquet")
    (folder / "funding").mkdir()
    funding = pd.DataFrame(
        {
            "timestamp": pd.to_datetime([START, START + 8 * HOUR], unit="ms", utc=True),
            "funding_rate": [0.0001, -0.0002],
        }
    )
    funding.to_parquet(folder / "funding" / "BTCUSDT-funding.parquet")
    return folder


def test_a_folder_feeds_the_store_once_and_reads_come_from_the_store(tmp_path: Path) -> None:
    frame = candles(48, start=START)
    store = CandleStore(tmp_path / "store")
    market = MarketData(store, "1h", _folder(tmp_path, frame))
    got = market.candles("BTCUSDT", START + 10 * HOUR, START + 20 * HOUR)
    pd.testing.assert_frame_equal(got, frame.iloc[10:20].reset_index(drop=True))
    assert store.symbols("1h") == ["BTCUSDT"]  # imported, validated, written
    market.candles("BTCUSDT")
    assert store.counters.values["imports"] == 1  # fed once per command, not per read
    assert store.counters.values["loads"] == 2
    assert [(r.funding_time, r.rate) for r in market.funding_rates("BTCUSDT")] == [
        (START, 0.0001),
        (START + 8 * HOUR, -0.0002),
    ]


def test_a_user_who_imported_data_needs_no_folder(tmp_path: Path) -> None:
    store = CandleStore(tmp_path / "store")
    store.write("BTCUSDT", "1h", candles(30, start=START))
    market = MarketData(store, "1h")
    series = market.series("BTCUSDT")
    assert len(series) == 30 and int(series.open_time[0]) == START
    assert market.funding("BTCUSDT") is None and market.funding_rates("BTCUSDT") == []


def test_a_range_without_candles_and_a_contradicting_folder_fail_loudly(tmp_path: Path) -> None:
    store = CandleStore(tmp_path / "store")
    stored = candles(48, start=START)
    store.write("BTCUSDT", "1h", stored)
    with pytest.raises(DataError, match="no BTCUSDT 1h candles in the requested range"):
        MarketData(store, "1h").candles("BTCUSDT", START + 100 * HOUR)
    other = candles(48, start=START, seed=1)  # same times, other prices
    with pytest.raises(DataError, match="contradict stored candles"):
        MarketData(store, "1h", _folder(tmp_path, other)).candles("BTCUSDT")
    pd.testing.assert_frame_equal(store.load("BTCUSDT", "1h"), stored)  # store unchanged
