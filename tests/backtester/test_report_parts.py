"""The report's pieces, on cases small enough to work out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from quantum_trader.backtester.report_parts import (
    attribution,
    buy_and_hold,
    monthly_returns,
    underwater,
)
from quantum_trader.domain.orders import Side
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.time import MS_PER_DAY, from_datetime

JAN_1 = from_datetime(pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime())


def test_monthly_returns_compare_each_month_end_with_the_one_before() -> None:
    days = [0, 10, 30, 40, 59, 70]  # Jan 1, Jan 11, Jan 31, Feb 10, Feb 29, Mar 11
    times = [JAN_1 + d * MS_PER_DAY for d in days]
    equity = [100.0, 90.0, 110.0, 120.0, 99.0, 108.9]
    table = monthly_returns(times, equity)
    assert list(table.index) == [2024]
    months = table.loc[2024].to_numpy(dtype=np.float64)
    assert math.isclose(months[0], 0.10)  # 110 against the first point, 100
    assert math.isclose(months[1], -0.10)  # 99 against January's last, 110
    assert math.isclose(months[2], 0.10)
    assert np.isnan(months[3:]).all()


def test_underwater_is_the_fall_from_the_running_peak() -> None:
    assert underwater(np.array([100.0, 120.0, 90.0, 130.0])).tolist() == [0.0, 0.0, -0.25, 0.0]


def test_buy_and_hold_marks_each_point_with_the_last_known_close() -> None:
    frame = pd.DataFrame({"open_time": [0, 10, 20], "close": [10.0, 20.0, 5.0]})
    # the candle opening at 10 closes at 20: at 25 its close (20) is the last known
    assert buy_and_hold({"X": frame}, [10, 25, 30], 100.0).tolist() == [100.0, 200.0, 50.0]


def _trade(strategy: str, pnl: float, fees: float) -> Trade:
    return Trade(
        f"t{pnl}", "BTCUSDT", Side.BUY, 1.0, 100.0, 100.0 + pnl, 0, 1, pnl, fees, 0.0, strategy
    )


def test_attribution_sums_each_strategys_trades() -> None:
    rows = attribution([_trade("A", 10.0, 1.0), _trade("B", -5.0, 1.0), _trade("A", -2.0, 1.0)])
    assert [r.strategy for r in rows] == ["A", "B"]  # largest net first
    a = rows[0]
    assert (a.trades, a.wins, a.gross_pnl, a.costs, a.net_pnl) == (2, 1, 8.0, 2.0, 6.0)
    assert a.win_rate == 0.5
