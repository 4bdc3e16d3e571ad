"""The label spec (sign or triple barrier) and the dataset's label under each kind.

The default spec is today's sign-of-return label, unchanged; ``kind="barrier"`` makes the
dataset's ``y`` the triple-barrier label of the same candles and leaves the features, the rows'
times and the forward returns as they were.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.features.dataset import candle_labels, make_dataset
from quantum_trader.features.labels import (
    BarrierSpec,
    LabelSpec,
    classify_returns,
    direction_labels,
    forward_returns,
)
from quantum_trader.features.series import CandleSeries
from quantum_trader.features.triple_barrier import triple_barrier_labels

ROWS = 3_000
BARRIER = LabelSpec(horizon=12, kind="barrier", upper=1.5, lower=2.5, vol_span=50)


@pytest.fixture(scope="module")
def btc(data_dir: Path) -> CandleSeries:
    series = CandleStore(data_dir).series("BTCUSDT", "1h")
    return series.slice(len(series) - ROWS, len(series))


def test_the_default_spec_is_the_sign_label_of_four_candles() -> None:
    spec = LabelSpec()
    assert (spec.horizon, spec.dead_zone, spec.kind) == (4, 2 * 0.0005, "sign")
    assert spec.sign_spec() == spec


def test_barrier_spec_takes_the_horizon_as_time_limit_and_flat_at_it() -> None:
    assert BARRIER.barrier_spec() == BarrierSpec(
        horizon=12, upper=1.5, lower=2.5, vol_span=50, vertical="flat", dead_zone=0.001
    )
    assert BARRIER.sign_spec() == LabelSpec(horizon=12, dead_zone=0.001)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("horizon", 0),
        ("dead_zone", -0.1),
        ("dead_zone", 0.5),
        ("kind", "meta"),
        ("upper", 0.0),
        ("upper", float("inf")),
        ("lower", -1.0),
        ("lower", float("nan")),
        ("vol_span", 1),
    ],
)
def test_label_spec_refuses_a_bad_field_by_name_and_value(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"LabelSpec\.{field}="):
        LabelSpec(**{field: value})  # type: ignore[arg-type]


def test_direction_labels_refuses_a_barrier_spec() -> None:
    close = np.linspace(100.0, 110.0, 50)
    with pytest.raises(ValueError, match="kind='barrier' needs highs and lows"):
        direction_labels(close, BARRIER)
    twin = direction_labels(close, BARRIER.sign_spec())
    assert np.array_equal(twin, classify_returns(forward_returns(close, 12), 0.001), equal_nan=True)


def test_default_dataset_label_is_the_sign_of_the_forward_return(btc: CandleSeries) -> None:
    data = make_dataset(btc)
    keep = np.isin(btc.open_time, data.open_time)
    assert np.array_equal(data.y, direction_labels(btc.close, LabelSpec())[keep], equal_nan=True)
    assert np.isnan(data.y[-4:]).all() and not np.isnan(data.y[:-4]).any()


@pytest.mark.parametrize("vol_span", [50, 200])  # σ ready before / after the features
def test_barrier_dataset_label_is_the_triple_barrier_of_the_candles(
    btc: CandleSeries, vol_span: int
) -> None:
    spec = replace(BARRIER, vol_span=vol_span)
    sign = make_dataset(btc, labels=spec.sign_spec())
    barrier = make_dataset(btc, labels=spec)
    expected = triple_barrier_labels(btc, spec.barrier_spec()).label
    rows = np.searchsorted(btc.open_time, barrier.open_time)
    assert np.array_equal(barrier.y, expected[rows], equal_nan=True)
    assert np.array_equal(candle_labels(btc, spec), expected, equal_nan=True)
    # the labelled rows are a prefix: only the last horizon rows lack a label
    assert np.isnan(barrier.y[-12:]).all() and not np.isnan(barrier.y[:-12]).any()
    # the rows before σ's first estimate (candle vol_span) are dropped, no other
    dropped = int((sign.open_time < btc.open_time[vol_span]).sum())
    warm_up = int(np.searchsorted(btc.open_time, sign.open_time[0]))  # the features' (96)
    assert dropped == max(0, vol_span - warm_up)
    # features, times and forward returns untouched
    assert np.array_equal(barrier.open_time, sign.open_time[dropped:])
    assert np.array_equal(barrier.x, sign.x[dropped:], equal_nan=True)
    assert np.array_equal(barrier.forward_return, sign.forward_return[dropped:], equal_nan=True)
    assert barrier.label_spec == spec
    assert not np.array_equal(barrier.y[:-12], sign.y[dropped:-12])  # a different label
