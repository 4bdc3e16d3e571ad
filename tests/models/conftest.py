from __future__ import annotations

from pathlib import Path

import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.features.dataset import Dataset, make_dataset

FAST = {"num_boost_round": 15}


@pytest.fixture(scope="session")
def btc_small(data_dir: Path) -> Dataset:
    """About 2,000 hourly BTC rows with funding: enough to train a small model quickly."""
    candles = CandleStore(data_dir).series("BTCUSDT", "1h")
    return make_dataset(
        candles.slice(len(candles) - 2100, len(candles)),
        CandleStore(data_dir).funding_series("BTCUSDT"),
    )
