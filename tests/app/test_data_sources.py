"""Where the main job's data comes from when the store is empty: QT_DATA_DIR, else a download."""

from __future__ import annotations

from pathlib import Path

import ccxt
import pytest

from quantum_trader.adapters.candle_store.store import CandleStore
from quantum_trader.app.data_sources import load_replay_data
from quantum_trader.config import Settings
from quantum_trader.domain.errors import DataError


class UnreachableExchange:
    """An exchange whose every request fails as it does offline."""

    def __init__(self) -> None:
        self.calls = 0

    def milliseconds(self) -> int:
        return 1_718_000_000_000

    def fetch_ohlcv(self, *args: object, **kwargs: object) -> list[list[float]]:
        self.calls += 1
        raise ccxt.NetworkError("binanceusdm GET https://fapi.binance.com: name resolution failed")

    def fetch_funding_rate_history(self, *args: object, **kwargs: object) -> list[object]:
        self.calls += 1
        raise ccxt.NetworkError("unreachable")


pytestmark = pytest.mark.usefixtures("clean_env")


def test_empty_store_tries_the_download_then_says_how_to_provide_data(tmp_path: Path) -> None:
    exchange = UnreachableExchange()
    settings = Settings(home=tmp_path, symbols=["BTCUSDT"], replay_days=5, train_days=30)
    store = CandleStore(tmp_path / "store")
    with pytest.raises(DataError) as err:
        load_replay_data(settings, store, synthetic=False, exchange=lambda: exchange)
    message = str(err.value)
    assert exchange.calls == 3  # the first attempt and two retries, then it gives up
    assert "download attempted: DataError" in message and "NetworkError" in message
    assert "QT_DATA_DIR=" in message and "--synthetic" in message
    assert store.list() == []  # nothing half-written


def test_qt_data_dir_is_imported_into_the_store(tmp_path: Path, data_dir: Path) -> None:
    settings = Settings(
        home=tmp_path, data_dir=data_dir, symbols=["ETHUSDT"], replay_days=3, train_days=30
    )
    store = CandleStore(tmp_path / "store")
    data = load_replay_data(settings, store, synthetic=False, exchange=UnreachableExchange)
    assert data.origin.startswith("QT_DATA_DIR=")
    assert len(data.frames["ETHUSDT"]) == 72
    history = data.history["ETHUSDT"]
    assert int(history["open_time"].iloc[-1]) < data.replay_start
    assert len(history) == 30 * 24
    assert "ETHUSDT" in data.funding
