"""Triple-barrier labels on hand-made price paths, against a plain loop, and on real data.

The hand-made paths start with a warm-up that fixes σ at the last warm-up candle t; the barrier
prices at t are read from a first labelling and the candles after t are then drawn around them.
That σ and the barriers at t stay the same whatever comes after t is itself one of the checks.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.features.labels import DOWN, FLAT, UP
from quantum_trader.features.series import CandleSeries, FloatArray
from quantum_trader.features.triple_barrier import (
    Barrier,
    BarrierLabels,
    BarrierSpec,
    triple_barrier_labels,
)

WARMUP = 30
T = WARMUP - 1  # the row labelled in the hand-made paths
SPEC = BarrierSpec(horizon=5, upper=2.0, lower=1.5, vol_span=10)


def series(high: FloatArray, low: FloatArray, close: FloatArray) -> CandleSeries:
    n = len(close)
    return CandleSeries(
        "TEST",
        "1h",
        np.arange(n, dtype=np.int64) * MS_PER_HOUR + 1_700_000_000_000,
        close.copy(),
        high,
        low,
        close,
        np.ones(n),
    )


def warmup_close() -> FloatArray:
    return np.array([100.0 + (i % 2) for i in range(WARMUP)])  # σ ≈ 1 % per candle


def barriers_at_t(spec: BarrierSpec = SPEC) -> tuple[float, float, float]:
    """(close, upper, lower) at row T, from the warm-up followed by a flat path."""
    close = np.concatenate((warmup_close(), np.full(spec.horizon + 2, 100.5)))
    out = triple_barrier_labels(series(close, close, close), spec)
    return float(close[T]), float(out.upper[T]), float(out.lower[T])


def path(
    future: list[tuple[float, float, float]], spec: BarrierSpec = SPEC, tail: int = 2
) -> BarrierLabels:
    """Labels of the warm-up followed by ``future`` candles (high, low, close) and ``tail`` flat
    candles (so that row T's vertical barrier lies inside the data)."""
    w = warmup_close()
    fut = np.array(future, dtype=np.float64).reshape(-1, 3)
    last = fut[-1, 2] if len(fut) else w[-1]
    pad = max(0, spec.horizon - len(fut)) + tail
    high = np.concatenate((w, fut[:, 0], np.full(pad, last)))
    low = np.concatenate((w, fut[:, 1], np.full(pad, last)))
    close = np.concatenate((w, fut[:, 2], np.full(pad, last)))
    out = triple_barrier_labels(series(high, low, close), spec)
    _, up, dn = barriers_at_t(spec)
    assert (out.upper[T], out.lower[T]) == (up, dn), "σ at t read a candle after t"
    return out


def inside(close: float) -> tuple[float, float, float]:
    return (close * 1.001, close * 0.999, close)


def test_barriers_are_scaled_by_the_volatility_up_to_t() -> None:
    c, up, dn = barriers_at_t()
    out = path([])
    sigma = out.sigma[T]
    assert 0.005 < sigma < 0.02
    assert up == pytest.approx(c * (1 + 2.0 * sigma)) and dn == pytest.approx(c * (1 - 1.5 * sigma))


def test_upper_touched_first_is_up_and_ends_at_that_candle() -> None:
    c, up, dn = barriers_at_t()
    out = path([inside(c), (up * 1.0001, c, c), (c, dn * 0.99, dn * 0.99)])
    assert out.label[T] == UP and out.barrier[T] == Barrier.UPPER
    assert out.end_index[T] == T + 2
    assert out.end_time[T] == out.open_time[T + 2]
    assert out.known_at[T] == out.open_time[T + 2] + MS_PER_HOUR


def test_lower_touched_first_is_down() -> None:
    c, up, dn = barriers_at_t()
    out = path([inside(c), inside(c), (c, dn * 0.999, c), (up * 1.01, c, up * 1.01)])
    assert out.label[T] == DOWN and out.barrier[T] == Barrier.LOWER
    assert out.end_index[T] == T + 3


def test_a_touch_at_exactly_the_barrier_counts() -> None:
    c, up, _ = barriers_at_t()
    out = path([(up, c, c)])
    assert out.label[T] == UP and out.end_index[T] == T + 1


def test_one_candle_through_both_barriers_is_flat_and_ends_there() -> None:
    """Neither side can count on its take-profit: a long and a short would both be read as
    stopped out (the candle does not say which barrier came first)."""
    c, up, dn = barriers_at_t()
    out = path([inside(c), (up * 1.01, dn * 0.99, c), (up * 1.05, c, up * 1.05)])
    assert out.label[T] == FLAT and out.barrier[T] == Barrier.BOTH
    assert out.end_index[T] == T + 2


def test_vertical_barrier_is_flat_by_default_whatever_the_return() -> None:
    c, up, _ = barriers_at_t()
    drift = (c + up) / 2  # half way to the upper barrier: a real gain, never touching it
    out = path([inside(c)] * 4 + [(drift, drift, drift)])
    assert out.label[T] == FLAT and out.barrier[T] == Barrier.VERTICAL
    assert out.end_index[T] == T + SPEC.horizon


@pytest.mark.parametrize(
    ("move", "expected"),
    [(+0.004, UP), (-0.004, DOWN), (+0.0005, FLAT), (-0.0005, FLAT)],
)
def test_vertical_barrier_takes_the_sign_beyond_the_dead_zone(move: float, expected: int) -> None:
    spec = BarrierSpec(horizon=5, upper=2.0, lower=1.5, vol_span=10, vertical="sign")
    c, up, dn = barriers_at_t(spec)
    final = c * (1 + move)
    assert dn < final < up
    out = path([inside(c)] * 4 + [(final, final, final)], spec)
    assert out.label[T] == expected and out.barrier[T] == Barrier.VERTICAL
    assert out.end_index[T] == T + spec.horizon


def test_no_label_before_sigma_exists_nor_where_the_window_runs_past_the_data() -> None:
    c, up, _ = barriers_at_t()
    out = path([(up * 1.01, c, c)], tail=0)  # row T touches at T+1 but its window is cut short
    n = len(out)
    assert n == T + 1 + SPEC.horizon
    assert np.isnan(out.label[: SPEC.vol_span]).all()
    assert not np.isnan(out.label[SPEC.vol_span : n - SPEC.horizon]).any()
    assert np.isnan(out.label[n - SPEC.horizon :]).all()
    none = np.isnan(out.label)
    assert (out.barrier[none] == Barrier.NONE).all() and (out.end_index[none] == -1).all()
    assert (out.known_at[none] == -1).all()


def test_flat_prices_have_no_volatility_and_no_label() -> None:
    close = np.full(40, 100.0)
    out = triple_barrier_labels(series(close, close, close), SPEC)
    assert np.isnan(out.label).all()


def random_walk(n: int, seed: int) -> CandleSeries:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    opens = np.concatenate(([100.0], close[:-1]))
    wick = np.abs(rng.normal(0, 0.004, (2, n)))
    high = np.maximum(opens, close) * (1 + wick[0])
    low = np.minimum(opens, close) * (1 - wick[1])
    return series(high, low, close)


def test_changing_candles_after_t_changes_no_sigma_up_to_t_nor_a_label_decided_by_t() -> None:
    base = random_walk(600, seed=3)
    spec = BarrierSpec(horizon=12, vol_span=30, vertical="sign")
    rng = np.random.default_rng(4)
    for t in (150, 300, 450):
        after = slice(t + 1, len(base))
        noise = np.exp(rng.normal(0, 0.05, len(base) - t - 1))
        high, low, close = base.high.copy(), base.low.copy(), base.close.copy()
        high[after], low[after], close[after] = (
            high[after] * noise,
            low[after] * noise,
            close[after] * noise,
        )
        a = triple_barrier_labels(base, spec)
        b = triple_barrier_labels(series(high, low, close), spec)
        np.testing.assert_array_equal(a.sigma[: t + 1], b.sigma[: t + 1])
        np.testing.assert_array_equal(a.upper[: t + 1], b.upper[: t + 1])
        np.testing.assert_array_equal(a.lower[: t + 1], b.lower[: t + 1])
        decided = (a.end_index >= 0) & (a.end_index <= t)
        assert decided.sum() > 50
        np.testing.assert_array_equal(a.label[decided], b.label[decided])
        np.testing.assert_array_equal(a.end_index[decided], b.end_index[decided])
        assert not np.array_equal(a.label, b.label, equal_nan=True)  # the scramble mattered


def loop_labels(c: CandleSeries, spec: BarrierSpec) -> tuple[list[float], list[int]]:
    """The definition, one row and one candle at a time (σ taken from the vectorised code,
    which the look-ahead test covers)."""
    sigma = triple_barrier_labels(c, spec).sigma
    n, h = len(c), spec.horizon
    labels, ends = [math.nan] * n, [-1] * n
    for t in range(n - h):
        s = sigma[t]
        if not (math.isfinite(s) and s > 0):
            continue
        up, dn = c.close[t] * (1 + spec.upper * s), c.close[t] * (1 - spec.lower * s)
        labels[t], ends[t] = FLAT, t + h
        if spec.vertical == "sign":
            r = c.close[t + h] / c.close[t] - 1
            labels[t] = UP if r > spec.dead_zone else DOWN if r < -spec.dead_zone else FLAT
        for k in range(t + 1, t + h + 1):
            hit_up, hit_dn = c.high[k] >= up, c.low[k] <= dn
            if hit_up or hit_dn:
                labels[t] = FLAT if hit_up and hit_dn else UP if hit_up else DOWN
                ends[t] = k
                break
    return labels, ends


@pytest.mark.parametrize(
    "spec",
    [
        BarrierSpec(horizon=8, upper=1.0, lower=1.0, vol_span=20),
        BarrierSpec(horizon=24, upper=3.0, lower=1.5, vol_span=50, vertical="sign"),
        BarrierSpec(horizon=1, upper=0.5, lower=0.5, vol_span=5),
    ],
)
def test_vectorised_labels_equal_the_loop(spec: BarrierSpec) -> None:
    c = random_walk(1500, seed=11)
    out = triple_barrier_labels(c, spec)
    labels, ends = loop_labels(c, spec)
    np.testing.assert_array_equal(out.label, np.array(labels))
    np.testing.assert_array_equal(out.end_index, np.array(ends))
    assert {Barrier(b) for b in out.barrier} >= {Barrier.UPPER, Barrier.LOWER, Barrier.NONE}


def test_spans_are_the_labelled_rows_windows() -> None:
    out = triple_barrier_labels(random_walk(300, seed=5), BarrierSpec(horizon=6, vol_span=20))
    start, end = out.spans()
    assert len(start) == int(out.labelled.sum()) > 0
    assert (end > start).all() and (end <= start + 7 * MS_PER_HOUR).all()


@pytest.mark.data
def test_real_btc_labels_equal_the_loop_and_are_not_degenerate(data_dir: Path) -> None:
    c = CandleStore(data_dir).series("BTCUSDT", "1h")
    c = c.slice(len(c) - 4000, len(c))
    spec = BarrierSpec()
    out = triple_barrier_labels(c, spec)
    labels, ends = loop_labels(c, spec)
    np.testing.assert_array_equal(out.label, np.array(labels))
    np.testing.assert_array_equal(out.end_index, np.array(ends))
    known = out.label[out.labelled]
    shares = np.bincount(known.astype(np.int64), minlength=3) / len(known)
    # every class occurs (2σ barriers over 24 candles: FLAT is the rare one, ~7 %)
    assert (shares > 0.02).all(), shares


@pytest.mark.parametrize(
    ("field", "value"),
    [("horizon", 0), ("upper", 0.0), ("lower", math.inf), ("vol_span", 1), ("dead_zone", 0.5)],
)
def test_bad_spec_is_refused_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"BarrierSpec.{field}"):
        BarrierSpec(**{field: value})  # type: ignore[arg-type]
