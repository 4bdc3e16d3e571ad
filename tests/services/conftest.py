"""The services' Redis tests use the adapters' client and key prefix (cleared after each); the
candle-stream tests share a home of two real symbols (``env``) and its replay (``frames``)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.app.data_sources import load_replay_data
from quantum_trader.config.settings import load_settings
from tests.adapters.conftest import client, prefix

__all__ = ["CANDLES", "DAYS", "SYMBOLS", "client", "env", "frames", "prefix"]

SYMBOLS = ("BTCUSDT", "ETHUSDT")
DAYS = 10
CANDLES = 2 * DAYS * 24


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path) -> dict[str, str]:
    """A home whose store holds the last 12 days of two real symbols; the replay is the last 10."""
    home = tmp_path / "home"
    store = CandleStore(home / "store")
    for symbol in SYMBOLS:
        store.write(symbol, "1h", CandleStore(data_dir).load(symbol, "1h").iloc[-12 * 24 :])
    for key, value in {
        "QT_HOME": str(home), "QT_SYMBOLS": ",".join(SYMBOLS), "QT_TIMEFRAME": "1h",
        "QT_REPLAY_DAYS": str(DAYS), "QT_OFFLINE": "true",
    }.items():  # fmt: skip
        clean_env.setenv(key, value)
    return dict(os.environ)


@pytest.fixture
def frames(env: dict[str, str]) -> dict[str, pd.DataFrame]:
    """The replay's frames as the main job (and the market-data role) load them."""
    settings = load_settings()
    data = load_replay_data(settings, CandleStore(settings.effective_store_dir), synthetic=False)
    assert sum(len(f) for f in data.frames.values()) == CANDLES
    return data.frames
