"""The always-valid test of ``experiments/sequential.py``: the running Newey-West variance against
a direct computation, lanes against single runs, the boundary against the mixture likelihood
ratio it inverts, and the test's behaviour (no reading early, sticky rejection, power, an A/A
false-positive rate, bad input)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantum_trader.experiments import sequential
from quantum_trader.experiments.sequential import (
    MAX_LAG,
    FloatArray,
    LongRunVariance,
    MixtureSequentialTest,
    half_width,
    mixture_rho,
    newey_west_bandwidth,
)


def ar1(rng: np.random.Generator, n: int, lanes: int, phi: float, mean: float) -> FloatArray:
    """``n`` samples (rows) of ``lanes`` AR(1) series with Student-t(3) innovations."""
    out = np.empty((n, lanes))
    state = np.zeros(lanes)
    for t in range(n):
        state = phi * state + rng.standard_t(3, size=lanes)
        out[t] = state
    return out + mean


def direct_long_run_variance(x: FloatArray, bandwidth: int) -> float:
    """Newey-West by the book: autocovariances about the full mean, divided by n, Bartlett
    weights 1 - k / (L + 1), floored at zero."""
    n = len(x)
    d = x - x.mean()
    out = float(d @ d) / n
    for k in range(1, bandwidth + 1):
        gamma = float(d[k:] @ d[:-k]) / n
        out += 2.0 * (1.0 - k / (bandwidth + 1.0)) * gamma
    return max(out, 0.0)


def test_the_bandwidth_follows_the_automatic_rule_within_its_caps() -> None:
    assert [newey_west_bandwidth(n) for n in (0, 1, 2, 3)] == [0, 0, 1, 1]
    assert newey_west_bandwidth(100) == 4 and newey_west_bandwidth(2000) == 7
    for n in (10, 57, 100, 999, 12_345, 10**6):
        rule = int(4.0 * (n / 100.0) ** (2.0 / 9.0))
        assert newey_west_bandwidth(n) == min(MAX_LAG, rule, n - 1)
    # the cap is reached near 317,500 samples (4 (n / 100)^(2/9) = 24)
    assert newey_west_bandwidth(317_000) == MAX_LAG - 1
    assert newey_west_bandwidth(318_000) == MAX_LAG == newey_west_bandwidth(10**9)


# n below MAX_LAG, at it, at the ring's size, just past it (first wrap-around) and far past it
SIZES = [2, 3, 7, MAX_LAG - 1, MAX_LAG, MAX_LAG + 1, MAX_LAG + 2, MAX_LAG + 3, 61, 400, 2500]


@pytest.mark.parametrize("n", SIZES)
def test_the_running_variance_equals_newey_west_computed_directly(n: int) -> None:
    rng = np.random.default_rng(n)
    x = ar1(rng, n, 3, phi=0.5, mean=2.0)  # a mean away from zero: the sums must cancel it
    lrv = LongRunVariance(3)
    for row in x:
        lrv.update(row)
    assert lrv.n == n
    np.testing.assert_allclose(lrv.mean(), x.mean(axis=0), rtol=1e-12)
    expected = [direct_long_run_variance(x[:, j], newey_west_bandwidth(n)) for j in range(3)]
    np.testing.assert_allclose(lrv.variance(), expected, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("n", [MAX_LAG - 5, MAX_LAG + 1, MAX_LAG + 2, 3 * MAX_LAG + 7, 300])
def test_every_lag_kept_is_right_when_the_bandwidth_reaches_max_lag(
    n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The automatic bandwidth stays under 10 for any realistic n; forcing it to its cap checks
    the lagged sums (the ring of recent samples, the head sums) for every lag up to MAX_LAG."""
    monkeypatch.setattr(sequential, "newey_west_bandwidth", lambda m: min(MAX_LAG, m - 1))
    rng = np.random.default_rng(1000 + n)
    x = ar1(rng, n, 2, phi=0.8, mean=-1.0)
    lrv = LongRunVariance(2)
    for t, row in enumerate(x, 1):
        lrv.update(row)
        if t in (2, MAX_LAG, MAX_LAG + 1, n):  # readings on the way are right too
            bandwidth = min(MAX_LAG, t - 1)
            expected = [direct_long_run_variance(x[:t, j], bandwidth) for j in range(2)]
            np.testing.assert_allclose(lrv.variance(), expected, rtol=1e-8, atol=1e-12)


def test_the_variance_is_zero_under_two_samples_and_for_a_constant_series() -> None:
    lrv = LongRunVariance(2)
    assert list(lrv.variance()) == [0.0, 0.0]
    lrv.update(np.array([3.0, -1.0]))
    assert list(lrv.variance()) == [0.0, 0.0]
    for _ in range(50):
        lrv.update(np.array([3.0, -1.0]))
    np.testing.assert_allclose(lrv.variance(), [0.0, 0.0], atol=1e-12)


def test_lanes_run_side_by_side_as_separate_single_lane_tests() -> None:
    rng = np.random.default_rng(7)
    lanes, n = 6, 700
    shifts = np.array([0.0, 0.3, -0.3, 0.0, 1.0, 0.05])
    x = ar1(rng, n, lanes, phi=0.3, mean=0.0) + shifts
    together = MixtureSequentialTest(lanes, alpha=0.05, horizon=n, min_samples=50)
    alone = [MixtureSequentialTest(1, alpha=0.05, horizon=n, min_samples=50) for _ in range(lanes)]
    for t, row in enumerate(x, 1):
        together.update(row)
        for j, test in enumerate(alone):
            test.update(row[j : j + 1])
        if t % 97 == 0 or t == n:
            for j, test in enumerate(alone):
                assert together.reading(j) == test.reading(0), (t, j)
    np.testing.assert_array_equal(
        together.variance.variance(), np.concatenate([t.variance.variance() for t in alone])
    )
    # the shifts were large enough for some lanes and not others: the comparison meant something
    rejected = [together.reading(j).rejected for j in range(lanes)]
    assert any(rejected) and not all(rejected)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
@pytest.mark.parametrize("n", [10, 100, 1000, 50_000])
def test_the_half_width_is_where_the_mixture_likelihood_ratio_reaches_one_over_alpha(
    alpha: float, n: int
) -> None:
    rho = mixture_rho(alpha, 250)
    for v in (0.01, 1.0, 37.0):
        half = float(half_width(np.array([v]), n, rho, alpha)[0])
        tau2 = rho * v

        def log_lambda(m: float, v: float = v, tau2: float = tau2) -> float:
            return 0.5 * math.log(v / (v + n * tau2)) + n * n * tau2 * m * m / (
                2.0 * v * (v + n * tau2)
            )

        assert log_lambda(half) == pytest.approx(math.log(1.0 / alpha), rel=1e-9)
        assert log_lambda(0.999 * half) < math.log(1.0 / alpha) < log_lambda(1.001 * half)
    assert math.isnan(float(half_width(np.array([0.0]), n, rho, alpha)[0]))


def test_the_mixing_variance_follows_howard_et_al() -> None:
    alpha = 0.05
    assert mixture_rho(alpha, 100) == pytest.approx(
        (-2.0 * math.log(alpha) + math.log(1.0 - 2.0 * math.log(alpha))) / 100
    )
    with pytest.raises(ValueError, match="tightest_at=0"):
        mixture_rho(alpha, 0)
    test = MixtureSequentialTest(1, alpha=alpha, horizon=4000, min_samples=100)
    assert test.rho == pytest.approx(mixture_rho(alpha, 1000))  # tightest at a quarter horizon


def test_no_interval_and_no_rejection_before_min_samples() -> None:
    test = MixtureSequentialTest(1, alpha=0.05, horizon=1000, min_samples=100)
    reading = test.reading()
    assert (reading.samples, reading.mean, reading.low, reading.high) == (0, 0.0, None, None)
    for i in range(99):  # a huge, noisy shift: it would be rejected at once if it could be
        test.update(np.array([10.0 + (-1.0) ** i]))
        reading = test.reading()
        assert reading.low is None and reading.high is None and not reading.rejected
        assert reading.rejected_at is None
    test.update(np.array([10.0]))
    reading = test.reading()
    assert reading.samples == 100 and reading.rejected and reading.rejected_at == 100
    assert reading.low is not None and reading.high is not None
    assert 0.0 < reading.low < reading.mean < reading.high
    assert reading.mean - reading.low == pytest.approx(reading.high - reading.mean)


def test_no_interval_while_the_differences_have_not_varied() -> None:
    test = MixtureSequentialTest(1, alpha=0.05, horizon=200, min_samples=10)
    for _ in range(50):
        test.update(np.array([0.5]))
    reading = test.reading()
    assert reading.mean == pytest.approx(0.5)
    assert reading.low is None and not reading.rejected


def test_a_rejection_stays_with_the_time_it_first_happened() -> None:
    rng = np.random.default_rng(3)
    test = MixtureSequentialTest(1, alpha=0.05, horizon=2000, min_samples=50)
    first = None
    for t in range(1, 401):
        test.update(rng.normal(1.0, 1.0, size=1))
        if first is None and test.reading().rejected:
            first = t
    assert first is not None and test.reading().rejected_at == first
    # the shift vanishes and reverses: the mean crosses zero, the interval covers it again
    for _ in range(1600):
        test.update(rng.normal(-0.4, 1.0, size=1))
    reading = test.reading()
    assert reading.low is not None and reading.high is not None
    assert reading.low < 0.0 < reading.high
    assert reading.rejected and reading.rejected_at == first


@pytest.mark.parametrize("shift", [0.4, -0.4])
def test_a_clear_shift_is_detected_on_the_right_side(shift: float) -> None:
    rng = np.random.default_rng(11)
    x = ar1(rng, 2000, 20, phi=0.2, mean=shift)
    test = MixtureSequentialTest(20, alpha=0.05, horizon=2000, min_samples=100)
    for row in x:
        test.update(row)
    readings = [test.reading(j) for j in range(20)]
    assert all(r.rejected for r in readings)
    for r in readings:
        assert r.low is not None and r.high is not None
        assert (r.low > 0.0) if shift > 0 else (r.high < 0.0)
    assert max(r.rejected_at or 0 for r in readings) < 2000


def test_an_a_a_run_peeked_at_every_sample_rarely_rejects() -> None:
    """400 experiments without an effect, read after every sample: the always-valid test keeps
    its false positives near alpha (a fixed-sample test peeked at this often would exceed 0.3).
    The bound is loose; bench/bench_ab_testing.py measures the rate."""
    lanes, n, alpha = 400, 1000, 0.05
    rng = np.random.default_rng(2024)
    test = MixtureSequentialTest(lanes, alpha=alpha, horizon=n, min_samples=100)
    for _ in range(n):
        test.update(rng.standard_normal(lanes))
    rate = float(np.mean(test.rejected_at >= 0))
    assert rate < 0.09, rate


@pytest.mark.parametrize(
    "bad",
    [
        np.array([0.1, math.nan, 0.2]),
        np.array([0.1, math.inf, 0.2]),
        np.array([0.1, 0.2]),
        np.array([[0.1, 0.2, 0.3]]),
        np.array(0.1),
    ],
    ids=["nan", "inf", "too-short", "2-d", "scalar"],
)
def test_bad_differences_are_refused_and_leave_the_test_unchanged(bad: FloatArray) -> None:
    test = MixtureSequentialTest(3, alpha=0.05, horizon=100, min_samples=2)
    test.update(np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="expected 3 finite values"):
        test.update(bad)
    assert test.samples == 1
    np.testing.assert_allclose(test.variance.mean(), [0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    ("alpha", "horizon", "min_samples", "message"),
    [
        (0.0, 100, 10, "alpha=0.0"),
        (1.0, 100, 10, "alpha=1.0"),
        (0.05, 100, 1, "min_samples=1"),
        (0.05, 9, 10, "horizon=9"),
    ],
)
def test_bad_parameters_are_refused(
    alpha: float, horizon: int, min_samples: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        MixtureSequentialTest(1, alpha=alpha, horizon=horizon, min_samples=min_samples)
