"""Indicator states against pandas' independent implementations on real closes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.features.indicators import Ema, Rolling, Rsi


def _closes(data_dir: Path) -> np.ndarray:
    return CandleStore(data_dir).series("SOLUSDT", "1h").close[-3000:]


def test_rolling_matches_pandas(data_dir: Path) -> None:
    closes = _closes(data_dir)
    state = Rolling(20)
    means, stds = [], []
    for x in closes:
        means.append(state.update(float(x)))
        stds.append(state.std)
    series = pd.Series(closes)
    np.testing.assert_allclose(means, series.rolling(20).mean(), rtol=1e-9)
    np.testing.assert_allclose(stds[19:], series.rolling(20).std(ddof=0)[19:], rtol=1e-6)


def test_ema_matches_pandas_after_sma_seed(data_dir: Path) -> None:
    closes = _closes(data_dir)
    state = Ema(14)
    got = [state.update(float(x)) for x in closes]
    seeded = closes.copy()
    seeded[13] = closes[:14].mean()
    want = pd.Series(seeded[13:]).ewm(span=14, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(got[13:], want, rtol=1e-9)
    assert np.isnan(got[:13]).all()


def test_rsi_bounds_and_direction(data_dir: Path) -> None:
    state = Rsi(14)
    values = np.array([state.update(float(x)) for x in _closes(data_dir)])[15:]
    assert ((values >= 0) & (values <= 100)).all()
    up = Rsi(3)
    assert [up.update(x) for x in (1.0, 2.0, 3.0, 4.0, 5.0)][-1] == 100.0
