"""The performance figures agree with empyrical-reloaded, the reference implementation, on
fixed seeded return series (hourly, 15-minute and daily annualisation) and on the edge cases
whose convention is easy to get wrong (constant returns, no losing bar, no drawdown)."""

from __future__ import annotations

import math
from collections.abc import Callable

import empyrical as ep
import numpy as np
import pytest

from quantum_trader.performance.metrics import (
    annual_return,
    bar_returns,
    calmar_ratio,
    downside_deviation,
    equity_from_returns,
    max_drawdown,
    performance,
    sharpe_ratio,
    sortino_ratio,
)

TOL = 1e-9


def _normal(seed: int, n: int, mean: float, sd: float) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, n)


def _negative_skew(seed: int, n: int) -> np.ndarray:
    """Small steady gains with rare large losses (short volatility)."""
    rng = np.random.default_rng(seed)
    jumps = np.where(rng.random(n) < 0.01, -rng.exponential(0.04, n), 0.0)
    return rng.normal(4e-4, 2e-3, n) + jumps


def _with_drawdown(seed: int, n: int) -> np.ndarray:
    """Up, a 35 % slide over a fifth of the series, then a partial recovery."""
    rng = np.random.default_rng(seed)
    third = n // 3
    drift = np.concatenate(
        (np.full(third, 8e-4), np.full(n // 5, -2.1e-3), np.full(n - third - n // 5, 3e-4))
    )
    return drift + rng.normal(0.0, 3e-3, n)


def _sparse(seed: int, n: int) -> np.ndarray:
    """A strategy that is flat (return exactly 0) most of the time."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < 0.15, rng.standard_t(3, n) * 4e-3, 0.0)


# (name, returns, annualization) — 8760 for 1h bars, 35040 for 15m bars, 365 for daily
SERIES: list[tuple[str, np.ndarray, float]] = [
    ("normal-1h", _normal(1, 5000, 1e-4, 5e-3), 8760.0),
    ("losing-1h", _normal(2, 3000, -2e-4, 4e-3), 8760.0),
    ("negative-skew-1h", _negative_skew(3, 8000), 8760.0),
    ("drawdown-15m", _with_drawdown(4, 12000), 35040.0),
    ("fat-tails-15m", np.random.default_rng(5).standard_t(3, 6000) * 1.5e-3, 35040.0),
    ("sparse-1h", _sparse(6, 4000), 8760.0),
    ("daily", _normal(7, 400, 1.5e-3, 3e-2), 365.0),
    ("short-1h", np.array([0.004, -0.002, 0.001]), 8760.0),
]
EDGES: list[tuple[str, np.ndarray, float]] = [
    ("constant-gain", np.full(10, 0.001), 8760.0),
    ("constant-loss", np.full(10, -0.001), 8760.0),
    ("all-zero", np.zeros(10), 8760.0),
    ("one-return", np.array([0.01]), 8760.0),
    ("never-loses", np.array([0.01, 0.0, 0.02, 0.005]), 8760.0),
    ("only-losses", np.array([-0.01, -0.03, -0.002]), 35040.0),
]


def _agree(ours: float, ref: float) -> None:
    ref = float(ref)
    if math.isnan(ref):
        assert math.isnan(ours), f"empyrical gives NaN, we give {ours}"
    elif math.isinf(ref):
        assert ours == ref
    else:
        assert ours == pytest.approx(ref, rel=TOL, abs=TOL)


@pytest.mark.parametrize(
    ("name", "r", "ppy"), SERIES + EDGES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_ratios_match_empyrical(name: str, r: np.ndarray, ppy: float) -> None:
    _agree(sharpe_ratio(r, ppy), ep.sharpe_ratio(r, annualization=ppy))
    _agree(sortino_ratio(r, ppy), ep.sortino_ratio(r, annualization=ppy))
    _agree(downside_deviation(r, ppy), ep.downside_risk(r, annualization=ppy))
    _agree(annual_return(r, ppy), ep.annual_return(r, annualization=ppy))
    _agree(calmar_ratio(r, ppy), ep.calmar_ratio(r, annualization=ppy))


@pytest.mark.parametrize(
    ("name", "r", "ppy"), SERIES + EDGES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_max_drawdown_is_empyricals_as_a_positive_fraction(
    name: str, r: np.ndarray, ppy: float
) -> None:
    # empyrical anchors the curve at a starting value before the first return, as our
    # equity curve does with its first point
    _agree(max_drawdown(equity_from_returns(r, 10_000.0)), -ep.max_drawdown(r))


def test_the_drawdown_series_is_deep_enough_to_matter() -> None:
    """The golden cases include a real drawdown (not only noise-sized ones)."""
    r = dict((name, r) for name, r, _ in SERIES)["drawdown-15m"]
    assert max_drawdown(equity_from_returns(r)) > 0.25


def test_the_negative_skew_series_is_negatively_skewed() -> None:
    r = dict((name, r) for name, r, _ in SERIES)["negative-skew-1h"]
    centred = r - r.mean()
    assert np.mean(centred**3) / np.mean(centred**2) ** 1.5 < -2.0


@pytest.mark.parametrize(
    ("timeframe", "ppy"), [("1h", 8760.0), ("15m", 35040.0), ("1d", 365.0), ("5m", 105120.0)]
)
def test_performance_of_an_equity_curve_matches_empyrical_on_its_bar_returns(
    timeframe: str, ppy: float
) -> None:
    """The whole path: equity curve -> bar returns -> figures, annualised by the timeframe."""
    r = _with_drawdown(11, 3000)
    equity = equity_from_returns(r, 2_500.0)
    back = bar_returns(equity)
    assert back == pytest.approx(r, rel=1e-12, abs=1e-15)
    p = performance(
        equity,
        timeframe=timeframe,
        trade_net_pnls=[],
        trade_gross_pnls=[],
        fees=0.0,
        funding=0.0,
        traded_notional=0.0,
        exposure=0.0,
    )
    figures: list[tuple[float, Callable[..., float]]] = [
        (p.sharpe, ep.sharpe_ratio),
        (p.sortino, ep.sortino_ratio),
        (p.annual_return, ep.annual_return),
        (p.calmar, ep.calmar_ratio),
    ]
    for ours, ref in figures:
        _agree(ours, ref(r, annualization=ppy))
    _agree(p.max_drawdown, -ep.max_drawdown(r))
    _agree(p.net_return, ep.cum_returns_final(r))
    assert p.periods == len(r)
    assert p.periods_per_year == ppy
