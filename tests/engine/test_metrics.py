"""The vectorised drawdown duration agrees with a point-by-point walk of the equity curve, and
the run's ratios are those of ``performance.metrics`` on per-bar returns, annualised by the
run's timeframe."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.domain.orders import Side
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.time import MS_PER_DAY, timeframe_ms
from quantum_trader.engine.metrics import Metrics, compute_metrics, drawdown


def _longest_underwater_days(times: list[int], equity: list[float]) -> float:
    """One point at a time: from the last peak until equity is back at it (or the end)."""
    longest = 0
    peak = -np.inf
    peak_time = 0
    since: int | None = None
    for t, e in zip(times, equity, strict=True):
        if e >= peak:
            if since is not None:
                longest = max(longest, t - since)
                since = None
            peak, peak_time = e, t
        else:
            since = peak_time if since is None else since
            longest = max(longest, t - since)
    return longest / MS_PER_DAY


@pytest.mark.parametrize("seed", range(40))
def test_drawdown_duration_matches_a_point_by_point_walk(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    times = (np.cumsum(rng.integers(1, 10, n)) * 3_600_000).tolist()
    equity = 100 + np.cumsum(rng.normal(0, 1, n))
    if seed % 2:
        equity = np.round(equity)  # equity back exactly at the peak counts as recovered
    max_dd, days = drawdown(times, equity.tolist())
    assert days == _longest_underwater_days(times, equity.tolist())
    peak = np.maximum.accumulate(equity)
    assert max_dd == pytest.approx(float(np.max((peak - equity) / peak)))


def _trade(k: int, net: float) -> Trade:
    return Trade(f"t{k}", "BTCUSDT", Side.BUY, 1.0, 100.0, 101.0, k, k + 1, pnl=net + 0.5, fees=0.5)


def _metrics(equity: list[float], timeframe: str, trades: list[Trade] | None = None) -> Metrics:
    step = timeframe_ms(timeframe)
    return compute_metrics(
        [i * step for i in range(len(equity))],
        equity,
        trades or [],
        initial_equity=equity[0] if equity else 1000.0,
        fees_paid=0.0,
        funding_paid=0.0,
        exposed_points=0,
        liquidations=0,
        timeframe=timeframe,
    )


def test_sharpe_and_sortino_use_every_bar_annualised_by_the_timeframe() -> None:
    rng = np.random.default_rng(1)
    equity = (1000 * np.cumprod(1 + rng.normal(2e-4, 4e-3, 500))).tolist()
    hourly = _metrics(equity, "1h")
    r = np.diff(equity) / np.asarray(equity[:-1])
    by_hand = r.mean() / r.std(ddof=1) * np.sqrt(24 * 365)
    assert hourly.sharpe == pytest.approx(by_hand, rel=1e-9)
    downside = np.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert hourly.sortino == pytest.approx(r.mean() / downside * np.sqrt(24 * 365), rel=1e-9)
    # the same bars called 15-minute ones: four times as many a year, Sharpe x sqrt(4)
    quarter = _metrics(equity, "15m")
    assert quarter.sharpe == pytest.approx(2 * hourly.sharpe, rel=1e-12)
    assert (hourly.periods, hourly.periods_per_year) == (499, 8760.0)
    assert (quarter.periods, quarter.periods_per_year) == (499, 35040.0)


def test_trade_figures_use_net_pnl_and_a_flat_trade_is_not_a_win() -> None:
    trades = [_trade(0, 30.0), _trade(1, -10.0), _trade(2, 0.0), _trade(3, -5.0)]
    m = _metrics([1000.0, 1010.0, 1015.0], "1h", trades)
    assert m.win_rate == 0.25
    assert m.profit_factor == pytest.approx(2.0)
    assert m.average_trade == pytest.approx(15.0 / 4)


def test_a_wiped_out_account_has_no_ratios_instead_of_an_error() -> None:
    m = _metrics([1000.0, 400.0, 0.0, 0.0], "1h")
    assert np.isnan(m.sharpe) and np.isnan(m.sortino)
    assert m.max_drawdown == 1.0 and m.periods == 3
    assert m.to_dict()["sharpe"] is None


def test_an_empty_curve_gives_empty_figures() -> None:
    m = _metrics([], "4h")
    assert m.periods == 0 and m.periods_per_year == 2190.0 and np.isnan(m.sharpe)
