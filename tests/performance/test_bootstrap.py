"""The paired block bootstrap of a Sharpe (or Sortino) difference: its block sums agree with
resampling the bars one by one, pairing makes a small edge over a shared market visible, a flat
baseline stays finite, and the draw is reproducible from its seed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantum_trader.performance.metrics import sharpe_ratio, sortino_ratio
from quantum_trader.performance.significance import (
    _BlockSums,
    block_bootstrap_difference,
    default_block,
)

PPY = 8760.0


def _market(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1e-2, n)


@pytest.mark.parametrize(("n", "block"), [(50, 4), (97, 5), (97, 97), (30, 1), (200, 7)])
@pytest.mark.parametrize("statistic", ["sharpe", "sortino"])
def test_block_sums_agree_with_resampling_bar_by_bar(n: int, block: int, statistic: str) -> None:
    rng = np.random.default_rng(n + block)
    r = rng.standard_t(4, n) * 1e-2 + 5e-4
    sums = _BlockSums(r, block)
    k = math.ceil(n / block)
    starts = rng.integers(0, n, size=(25, k), dtype=np.intp)
    ours = sums.statistic(starts, statistic, PPY)
    reference = sharpe_ratio if statistic == "sharpe" else sortino_ratio
    for row, value in zip(starts, ours, strict=True):
        # the bars of each block, wrapping round the end, strung together and cut to n
        index = ((row[:, None] + np.arange(block)[None, :]) % n).ravel()[:n]
        assert value == pytest.approx(reference(r[index], PPY), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("statistic", ["sharpe", "sortino"])
def test_the_point_is_the_difference_of_the_plain_figures(statistic: str) -> None:
    a, b = _market(1, 3000) + 3e-4, _market(2, 3000)
    iv = block_bootstrap_difference(a, b, statistic=statistic, periods_per_year=PPY, samples=50)
    reference = sharpe_ratio if statistic == "sharpe" else sortino_ratio
    assert iv.point == pytest.approx(reference(a, PPY) - reference(b, PPY), rel=1e-9)


def test_identical_series_give_an_interval_at_zero() -> None:
    a = _market(3, 2000)
    iv = block_bootstrap_difference(a, a.copy(), periods_per_year=PPY, samples=500)
    assert iv.point == 0.0 and iv.low == 0.0 and iv.high == 0.0


def test_a_series_against_its_own_shuffle_is_not_called_different() -> None:
    a = _market(4, 4000)
    b = np.random.default_rng(5).permutation(a)  # same bars, same Sharpe ratio, another order
    iv = block_bootstrap_difference(a, b, periods_per_year=PPY, samples=1000)
    assert iv.point == pytest.approx(0.0, abs=1e-9)
    assert iv.low < 0 < iv.high


def test_pairing_makes_a_small_edge_over_the_shared_market_visible() -> None:
    """a = market + 0.01 % a bar: about 0.9 of annualised Sharpe above the market itself, far
    less than either one's own uncertainty over 5,000 bars, but exact bar by bar."""
    market = _market(6, 5000)
    a = market + 1e-4
    paired = block_bootstrap_difference(a, market, periods_per_year=PPY)
    assert 0 < paired.low < paired.point < paired.high
    # the same two series with the market's bars rotated: same figures, pairing lost
    unpaired = block_bootstrap_difference(a, np.roll(market, 2500), periods_per_year=PPY)
    assert unpaired.point == pytest.approx(paired.point, abs=1e-9)
    assert unpaired.low < 0 < unpaired.high


def test_a_flat_baseline_counts_as_zero_and_stays_finite() -> None:
    a = _market(7, 3000) + 1e-3
    flat = np.zeros(3000)
    iv = block_bootstrap_difference(a, flat, periods_per_year=PPY, samples=500)
    assert iv.point == pytest.approx(sharpe_ratio(a, PPY), rel=1e-9)
    assert all(math.isfinite(v) for v in (iv.point, iv.low, iv.high))
    assert iv.low > 0  # Sharpe ~ 9.4 annualised, clearly above the flat baseline
    both_flat = block_bootstrap_difference(flat, flat + 0.002, periods_per_year=PPY, samples=50)
    assert (both_flat.point, both_flat.low, both_flat.high) == (0.0, 0.0, 0.0)


def test_a_mostly_steady_series_never_gives_a_huge_sharpe() -> None:
    """A rarely trading strategy that earns the same small amount on every flat bar: resamples
    that catch only the steady stretch have no spread, and count as 0 instead of a mean over
    a rounding residue of the variance (Sharpe ratios of ~1e7)."""
    a = np.full(400, 2e-5)
    a[[50, 51, 52]] = [0.01, -0.004, 0.006]
    iv = block_bootstrap_difference(a, np.zeros(400), periods_per_year=PPY, block=3, samples=3000)
    assert iv.low == 0.0  # about a fifth of the resamples miss the three trades
    assert iv.high < 50


def test_the_same_seed_gives_the_same_interval() -> None:
    a, b = _market(8, 1500) + 2e-4, _market(9, 1500)
    first = block_bootstrap_difference(a, b, periods_per_year=PPY, seed=11, samples=300)
    again = block_bootstrap_difference(a, b, periods_per_year=PPY, seed=11, samples=300)
    other = block_bootstrap_difference(a, b, periods_per_year=PPY, seed=12, samples=300)
    assert first == again
    assert (other.low, other.high) != (first.low, first.high)


def test_defaults_and_reported_settings() -> None:
    assert default_block(17_000) == 26
    assert default_block(1) == 1
    a, b = _market(10, 1000), _market(11, 1000)
    iv = block_bootstrap_difference(a, b, periods_per_year=PPY)
    assert (iv.samples, iv.block) == (2000, 10)
    wide = block_bootstrap_difference(a, b, periods_per_year=PPY, confidence=0.99)
    assert wide.low < iv.low and wide.high > iv.high
