"""Small synthetic datasets: real models train on them in well under a second."""

from __future__ import annotations

import numpy as np

from quantum_trader.features.dataset import Dataset
from quantum_trader.features.labels import LabelSpec

HOUR = 3_600_000
TINY = {"num_boost_round": 5}


def synthetic_dataset(seed: int, rows: int = 400, symbol: str = "BTCUSDT") -> Dataset:
    """Three features; the label follows the first one's sign (so models learn something)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    y = np.where(x[:, 0] > 0.3, 2.0, np.where(x[:, 0] < -0.3, 0.0, 1.0))
    y[-4:] = np.nan  # the last horizon's labels look past the data
    open_time = 1_700_000_000_000 + HOUR * np.arange(rows, dtype=np.int64)
    return Dataset(
        symbol, "1h", ("f0", "f1", "f2"), open_time, x, y, x[:, 0] / 100, LabelSpec(horizon=4)
    )
