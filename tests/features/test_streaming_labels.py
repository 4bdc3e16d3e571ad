"""The streaming triple barrier (σ and labels one candle at a time) against the batch.

The live pipeline labels its predictions with :class:`StreamingBarrierLabels`; the members were
trained on :func:`triple_barrier_labels`. The two must agree on every candle both label.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.features.labels import DOWN, FLAT, UP, BarrierSpec
from quantum_trader.features.series import CandleSeries
from quantum_trader.features.triple_barrier import (
    EwmVolatility,
    StreamingBarrierLabels,
    ewm_volatility,
    triple_barrier_labels,
)

ROWS = 3_000


@pytest.fixture(scope="module")
def btc(data_dir: Path) -> CandleSeries:
    series = CandleStore(data_dir).series("BTCUSDT", "1h")
    return series.slice(len(series) - ROWS, len(series))


def streamed(candles: CandleSeries, spec: BarrierSpec) -> np.ndarray:
    live = StreamingBarrierLabels(spec, MS_PER_HOUR)
    for t, h, lo, c in zip(
        candles.open_time, candles.high, candles.low, candles.close, strict=True
    ):
        live.update(int(t), float(h), float(lo), float(c))
    labels = [live.label(int(t)) for t in candles.open_time]
    return np.array([math.nan if x is None else x for x in labels], dtype=np.float64)


def test_streaming_sigma_is_the_batch_sigma_to_the_bit(btc: CandleSeries) -> None:
    for span in (2, 20, 100):
        vol = EwmVolatility(span)
        live = np.array([vol.update(float(c)) for c in btc.close])
        assert np.array_equal(live, ewm_volatility(btc.close, span), equal_nan=True)


@pytest.mark.parametrize(
    "spec",
    [
        BarrierSpec(horizon=4),
        BarrierSpec(horizon=24, upper=1.0, lower=3.0, vol_span=50, vertical="sign"),
        BarrierSpec(horizon=1, upper=0.5, lower=0.5, vol_span=5),
    ],
)
def test_streaming_labels_are_the_batch_labels_on_real_data(
    btc: CandleSeries, spec: BarrierSpec
) -> None:
    batch = triple_barrier_labels(btc, spec).label
    live = streamed(btc, spec)
    # the same candles labelled (none before σ, none in the last horizon rows) and the same labels
    assert np.array_equal(live, batch, equal_nan=True)
    assert np.isnan(live[: spec.vol_span]).all() and np.isnan(live[-spec.horizon :]).all()
    assert set(np.unique(live[~np.isnan(live)])) == {DOWN, FLAT, UP}


def test_a_missing_candle_leaves_its_windows_unlabelled(btc: CandleSeries) -> None:
    spec = BarrierSpec(horizon=4, vol_span=20)
    gap = 500
    keep = np.arange(len(btc)) != gap
    holed = CandleSeries(
        "BTCUSDT",
        "1h",
        btc.open_time[keep],
        btc.open[keep],
        btc.high[keep],
        btc.low[keep],
        btc.close[keep],
        btc.volume[keep],
    )
    live = StreamingBarrierLabels(spec, MS_PER_HOUR)
    for t, h, lo, c in zip(holed.open_time, holed.high, holed.low, holed.close, strict=True):
        live.update(int(t), float(h), float(lo), float(c))
    around = [live.label(int(t)) for t in btc.open_time[gap - 4 : gap + 1]]
    assert around == [None] * 5  # their windows hold the missing candle (or it is missing)
    assert live.label(int(btc.open_time[gap - 5])) is not None
    assert live.label(int(btc.open_time[gap + 1])) is not None


def test_a_candle_through_both_barriers_is_flat_and_time_goes_forward() -> None:
    # at the time limit the sign would say DOWN for candle 3 and UP for candle 4
    spec = BarrierSpec(horizon=2, upper=1.0, lower=1.0, vol_span=3, vertical="sign")
    live = StreamingBarrierLabels(spec, 1)
    for t, c in enumerate([100.0, 101.0, 100.0, 101.0, 100.0]):
        live.update(t, c, c, c)
    live.update(5, 120.0, 80.0, 100.0)  # through both barriers of candles 3 and 4
    assert live.label(3) == FLAT and live.label(4) is None  # 4's time limit is candle 6
    live.update(6, 105.0, 105.0, 105.0)
    assert live.label(4) == FLAT
    close = np.array([100.0, 101.0, 100.0, 101.0, 100.0, 100.0, 105.0])
    high, low = close.copy(), close.copy()
    high[5], low[5] = 120.0, 80.0
    batch = triple_barrier_labels(
        CandleSeries("X", "1h", np.arange(7), close, high, low, close, close), spec
    )
    assert batch.label[3:5].tolist() == [FLAT, FLAT]
    with pytest.raises(ValueError, match="does not come after"):
        live.update(6, 100.0, 100.0, 100.0)


def test_forget_before_bounds_the_labels_kept() -> None:
    live = StreamingBarrierLabels(BarrierSpec(horizon=2, vol_span=3), 1)
    rng = np.random.default_rng(1)
    for t, c in enumerate(100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 50)))):
        live.update(t, float(c), float(c), float(c))
        live.forget_before(t - 10)
    kept = [t for t in range(50) if live.label(t) is not None]
    assert kept == list(range(39, 48))  # from t − 10 to the last decided (t − horizon)
