"""Hand-computed cases for the figures empyrical does not cover (profit factor, win rate,
turnover …), the annualisation per timeframe, and the refusals of bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantum_trader.performance.metrics import (
    Performance,
    bar_returns,
    max_drawdown,
    performance,
    periods_per_year,
    profit_factor,
    sharpe_ratio,
    win_rate,
)


@pytest.mark.parametrize(
    ("timeframe", "bars"),
    [("1m", 525_600), ("5m", 105_120), ("15m", 35_040), ("1h", 8_760), ("4h", 2_190), ("1d", 365)],
)
def test_periods_per_year_counts_bars_in_a_365_day_year(timeframe: str, bars: int) -> None:
    assert periods_per_year(timeframe) == bars


def test_an_unknown_timeframe_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown timeframe '7m'"):
        periods_per_year("7m")


def test_profit_factor_by_hand() -> None:
    # wins 40 + 25 + 5 = 70; losses 10 + 20 = 30; the break-even trade counts for neither
    assert profit_factor([40.0, -10.0, 25.0, 0.0, -20.0, 5.0]) == pytest.approx(70 / 30)
    assert profit_factor([-3.0, -1.0]) == 0.0
    assert profit_factor([2.0, 0.0]) == math.inf
    assert math.isnan(profit_factor([]))
    assert math.isnan(profit_factor([0.0, 0.0]))


def test_win_rate_by_hand() -> None:
    # 3 of 6 trades above 0; the 0.0 trade is not a win
    assert win_rate([40.0, -10.0, 25.0, 0.0, -20.0, 5.0]) == 0.5
    assert win_rate([-1.0, 0.0]) == 0.0
    assert win_rate([1e-9]) == 1.0
    assert math.isnan(win_rate([]))


def test_max_drawdown_by_hand() -> None:
    # peak 120 -> 84 is 30 %; the later fall 150 -> 135 is only 10 %
    assert max_drawdown([100.0, 120.0, 84.0, 150.0, 135.0]) == pytest.approx(0.3)
    assert max_drawdown([100.0, 101.0, 102.0]) == 0.0
    assert max_drawdown([100.0]) == 0.0
    assert math.isnan(max_drawdown([]))


def test_sharpe_by_hand() -> None:
    # mean 0.01, sample std sqrt(((0.02)^2 + 0 + (0.02)^2) / 2) = 0.02, √8760 = 93.5949...
    assert sharpe_ratio([0.03, 0.01, -0.01], 8760.0) == pytest.approx(0.5 * math.sqrt(8760))


@pytest.mark.parametrize(
    ("equity", "message"),
    [
        ([100.0, float("nan"), 90.0], "non-finite value nan at index 1"),
        ([100.0, 95.0, float("inf")], "non-finite value inf at index 2"),
        ([100.0, 0.0, 90.0], "non-positive value 0.0 at index 1"),
        ([100.0, 50.0, -5.0], "non-positive value -5.0 at index 2"),
        ([[100.0, 101.0]], r"1-D series, got shape \(1, 2\)"),
    ],
)
def test_bar_returns_refuse_bad_equity(equity: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bar_returns(equity)


def test_ratios_refuse_nan_returns_instead_of_skipping_them() -> None:
    with pytest.raises(ValueError, match="returns: non-finite value nan at index 2"):
        sharpe_ratio([0.01, 0.02, float("nan")], 8760.0)


def _run(**overrides: object) -> Performance:
    args: dict[str, object] = {
        "timeframe": "1h",
        "trade_net_pnls": [30.0, -10.0, 0.0],
        "trade_gross_pnls": [33.0, -8.0, 1.5],
        "fees": 6.5,
        "funding": -1.25,
        "traded_notional": 4_000.0,
        "exposure": 0.4,
    }
    args.update(overrides)
    return performance(np.array([1000.0, 1010.0, 990.0, 1020.0]), **args)  # type: ignore[arg-type]


def test_performance_fields_by_hand() -> None:
    p = _run()
    assert p.net_return == pytest.approx(0.02)
    assert p.trades == 3
    assert p.profit_factor == 3.0
    assert p.win_rate == pytest.approx(1 / 3)
    # mean equity (1000 + 1010 + 990 + 1020) / 4 = 1005
    assert p.turnover == pytest.approx(4000 / 1005)
    assert p.gross_pnl_abs == pytest.approx(33 + 8 + 1.5)
    assert (p.fees, p.funding, p.exposure) == (6.5, -1.25, 0.4)
    assert p.max_drawdown == pytest.approx(20 / 1010)
    assert (p.periods, p.periods_per_year) == (3, 8760.0)


def test_to_dict_turns_non_finite_figures_into_none() -> None:
    d = _run(trade_net_pnls=[5.0], trade_gross_pnls=[6.0]).to_dict()
    assert d["profit_factor"] is None  # inf: wins, no losses
    flat = performance(
        np.full(5, 1000.0),
        timeframe="15m",
        trade_net_pnls=[],
        trade_gross_pnls=[],
        fees=0.0,
        funding=0.0,
        traded_notional=0.0,
        exposure=0.0,
    ).to_dict()
    assert flat["sharpe"] is None and flat["calmar"] is None and flat["win_rate"] is None
    assert flat["max_drawdown"] == 0.0 and flat["trades"] == 0 and flat["periods"] == 4
    assert set(d) == set(Performance.__slots__)


def test_performance_refuses_trades_without_both_pnls() -> None:
    with pytest.raises(ValueError, match="2 net but 1 gross"):
        _run(trade_net_pnls=[1.0, 2.0], trade_gross_pnls=[1.0])


def test_performance_refuses_a_negative_notional() -> None:
    with pytest.raises(ValueError, match=r"traded_notional=-1\.0"):
        _run(traded_notional=-1.0)
