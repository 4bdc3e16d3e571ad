"""PSR, expected maximum Sharpe and DSR against arithmetic written out from the formulas of
Bailey & López de Prado (2012, 2014), including the 2014 paper's numerical example."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from quantum_trader.performance.significance import (
    EULER_MASCHERONI,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_from_moments,
    probabilistic_sharpe_ratio,
)


def _phi(z: float) -> float:
    """Standard normal CDF from the error function (independent of the module's NormalDist)."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


# standard normal quantiles, checked against _phi below
Q_0_99 = 2.3263478740408408  # Phi^-1(1 - 1/100)
Q_100E = 2.6802104449668875  # Phi^-1(1 - 1/(100 e)) = Phi^-1(0.996321...)
Q_0_9 = 1.2815515655446004  # Phi^-1(1 - 1/10)
Q_10E = 1.7892417645816283  # Phi^-1(1 - 1/(10 e))


def test_the_quantiles_used_below_are_right() -> None:
    assert _phi(Q_0_99) == pytest.approx(0.99, abs=1e-12)
    assert _phi(Q_100E) == pytest.approx(1 - 1 / (100 * math.e), abs=1e-12)
    assert _phi(Q_0_9) == pytest.approx(0.9, abs=1e-12)
    assert _phi(Q_10E) == pytest.approx(1 - 1 / (10 * math.e), abs=1e-12)


def test_expected_max_sharpe_known_values() -> None:
    g = 0.5772156649015329
    assert g == EULER_MASCHERONI
    # N = 10, V = 1: 0.4227843 * 1.2815516 + 0.5772157 * 1.7892418 = 0.5418199 + 1.0327784
    assert expected_max_sharpe(10, 1.0) == pytest.approx((1 - g) * Q_0_9 + g * Q_10E, abs=1e-12)
    assert expected_max_sharpe(10, 1.0) == pytest.approx(1.574598, abs=1e-6)
    # N = 100, V = 4: the spread scales with sqrt(V) = 2
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * ((1 - g) * Q_0_99 + g * Q_100E))
    assert expected_max_sharpe(1, 3.0) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0


def test_expected_max_sharpe_is_close_to_a_simulated_maximum() -> None:
    """The formula approximates E[max of N standard normals] (within 1 % at N = 100)."""
    simulated = np.random.default_rng(0).standard_normal((20_000, 100)).max(axis=1).mean()
    assert expected_max_sharpe(100, 1.0) == pytest.approx(simulated, rel=0.01)


def test_expected_max_sharpe_grows_with_the_number_of_trials() -> None:
    values = [expected_max_sharpe(n, 0.01) for n in (2, 5, 10, 100, 1000)]
    assert values == sorted(values) and len(set(values)) == 5


def test_dsr_of_the_papers_numerical_example_by_hand() -> None:
    """Bailey & López de Prado (2014): N = 100 trials whose annualised Sharpe ratios vary with
    variance 1/2, the best one annualised 2.5 over T = 1250 daily returns (250 a year), with
    skewness -3 and kurtosis 10. The paper reports SR0 ~ 0.1132 and DSR ~ 0.9004."""
    g = 0.5772156649015329
    sr = 2.5 / math.sqrt(250)  # 0.1581139 per day
    v = 0.5 / 250  # 0.002: variance of the per-day Sharpe ratios
    sr0 = math.sqrt(v) * ((1 - g) * Q_0_99 + g * Q_100E)
    # 0.0447214 * (0.4227843 * 2.3263479 + 0.5772157 * 2.6802104) = 0.0447214 * 2.5306029
    assert sr0 == pytest.approx(0.113172, abs=1e-6)
    z = (sr - sr0) * math.sqrt(1250 - 1) / math.sqrt(1 - (-3) * sr + (10 - 1) / 4 * sr**2)
    # (0.1581139 - 0.1131720) * 35.3411941 / sqrt(1 + 0.4743416 + 0.05625)
    #   = 1.5882997 / 1.2371708
    assert z == pytest.approx(1.283816, abs=1e-6)
    dsr = _phi(z)
    assert dsr == pytest.approx(0.9004, abs=1e-4)  # the paper's figure
    assert expected_max_sharpe(100, v) == pytest.approx(sr0, abs=1e-12)
    ours = probabilistic_sharpe_from_moments(sr, 1250, -3.0, 10.0, benchmark=sr0)
    assert ours == pytest.approx(dsr, abs=1e-9)


def test_psr_of_a_short_series_by_hand() -> None:
    r = [0.01, -0.005, 0.02, 0.0, 0.015, -0.01]
    # mean 0.005; deviations .005 -.01 .015 -.005 .01 -.015; sum of squares 700e-6
    sr = 0.005 / math.sqrt(700e-6 / 5)  # 0.4225771
    m2 = 700e-6 / 6
    skew = 0.0  # the cubes cancel: 125 - 1000 + 3375 - 125 + 1000 - 3375 (e-9)
    kurt = (2 * (625 + 10_000 + 50_625) * 1e-12 / 6) / m2**2  # 1.5
    assert kurt == pytest.approx(1.5)
    for benchmark in (0.0, 0.1, -0.2):
        z = (sr - benchmark) * math.sqrt(5) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
        assert probabilistic_sharpe_ratio(r, benchmark) == pytest.approx(_phi(z), abs=1e-12)
    assert probabilistic_sharpe_ratio(r) == pytest.approx(0.825, abs=1e-4)


def test_psr_uses_skewness_and_kurtosis() -> None:
    """Negative skew and fat tails make the same Sharpe ratio less convincing."""
    normal = probabilistic_sharpe_from_moments(0.05, 1000, 0.0, 3.0)
    assert probabilistic_sharpe_from_moments(0.05, 1000, -2.0, 3.0) < normal
    assert probabilistic_sharpe_from_moments(0.05, 1000, 0.0, 12.0) < normal
    assert probabilistic_sharpe_from_moments(0.05, 1000, 1.0, 3.0) > normal


def test_psr_is_one_half_at_its_own_sharpe_and_falls_as_the_benchmark_rises() -> None:
    r = np.random.default_rng(3).normal(5e-4, 1e-2, 2000)
    sr = r.mean() / r.std(ddof=1)
    assert probabilistic_sharpe_ratio(r, benchmark=sr) == pytest.approx(0.5, abs=1e-12)
    psr = [probabilistic_sharpe_ratio(r, benchmark=b) for b in (-0.05, 0.0, 0.02, 0.05, 0.1)]
    assert all(x > y for x, y in itertools.pairwise(psr))


def test_psr_grows_with_the_track_record() -> None:
    """The same per-period Sharpe ratio over more returns is stronger evidence."""
    values = [probabilistic_sharpe_from_moments(0.03, t, -0.5, 5.0) for t in (100, 1000, 10_000)]
    assert values[0] < values[1] < values[2] < 1.0


def test_dsr_deflates_by_the_number_of_trials() -> None:
    r = np.random.default_rng(4).normal(2e-3, 1e-2, 1500)
    assert deflated_sharpe_ratio(r, 1, 0.0) == probabilistic_sharpe_ratio(r, 0.0)
    assert deflated_sharpe_ratio(r, 1, 0.5) == probabilistic_sharpe_ratio(r, 0.0)
    dsr = [deflated_sharpe_ratio(r, n, 1e-3) for n in (1, 10, 100, 1000)]
    assert all(x > y for x, y in itertools.pairwise(dsr))
    assert dsr[-1] == probabilistic_sharpe_ratio(r, expected_max_sharpe(1000, 1e-3))


def test_psr_of_a_series_without_spread_is_nan() -> None:
    assert math.isnan(probabilistic_sharpe_ratio([0.0] * 10))
    assert math.isnan(probabilistic_sharpe_ratio([0.01]))


@pytest.mark.parametrize(
    ("trials", "variance", "message"),
    [(0, 1.0, "trials=0"), (5, -0.1, "variance=-0.1"), (5, float("nan"), "variance=nan")],
)
def test_expected_max_sharpe_refuses_bad_input(trials: int, variance: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expected_max_sharpe(trials, variance)
