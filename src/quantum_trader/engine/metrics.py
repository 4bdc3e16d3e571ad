"""Performance metrics, computed from the simulated trades and equity curve (never estimated).

Conventions (also in docs/execution.md):

* Returns for Sharpe and Sortino are daily: the equity at the last point of each UTC day,
  relative to the previous day's; annualised with √365 (crypto trades every day); risk-free 0.
  Sortino divides the mean by the downside deviation √(mean(min(r, 0)²)) over all days.
* CAGR uses the calendar span of the equity curve in 365.25-day years.
* Max drawdown is the largest fall from a running peak, as a fraction of that peak; its
  duration is the longest time from a peak until equity regained it (or the end of the data).
* Exposure is the fraction of equity points (candle close times) with any open position.
* Win rate, average trade and profit factor use each trade's net PnL (after fees and funding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from quantum_trader.domain.positions import Trade
from quantum_trader.domain.time import MS_PER_DAY

DAYS_PER_YEAR = 365


@dataclass(frozen=True, slots=True)
class Metrics:
    initial_equity: float
    final_equity: float
    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    max_drawdown: float
    max_drawdown_duration_days: float
    profit_factor: float
    win_rate: float
    average_trade: float
    exposure: float
    fees_paid: float
    funding_paid: float
    trade_count: int
    liquidations: int

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


def daily_returns(
    times: Sequence[int], equity: Sequence[float]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Day-over-day returns of the last equity of each UTC day.

    >>> daily_returns([0, MS_PER_DAY, 2 * MS_PER_DAY], [100.0, 110.0, 99.0]).round(4).tolist()
    [0.1, -0.1]
    """
    if len(times) == 0:
        return np.zeros(0)
    t = np.asarray(times, dtype=np.int64)
    e = np.asarray(equity, dtype=np.float64)
    days = t // MS_PER_DAY
    last_of_day = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    closes = e[last_of_day]
    if len(closes) < 2:
        return np.zeros(0)
    return closes[1:] / closes[:-1] - 1.0


def drawdown(times: Sequence[int], equity: Sequence[float]) -> tuple[float, float]:
    """(max drawdown as a fraction of the peak, longest underwater duration in days).

    >>> drawdown([0, MS_PER_DAY, 2 * MS_PER_DAY, 3 * MS_PER_DAY], [100.0, 80.0, 90.0, 101.0])
    (0.2, 3.0)
    """
    if len(equity) == 0:
        return 0.0, 0.0
    e = np.asarray(equity, dtype=np.float64)
    t = np.asarray(times, dtype=np.int64)
    peak = np.maximum.accumulate(e)
    dd = float(np.max((peak - e) / peak))
    under = e < peak  # never at the first point
    # each underwater run lasts from the peak before it to the point back at the peak (or to
    # the last point, when the data ends under water)
    edges = np.diff(under.view(np.int8))
    starts = np.flatnonzero(edges == 1) + 1
    if len(starts) == 0:
        return dd, 0.0
    ends = np.flatnonzero(edges == -1) + 1
    if len(ends) < len(starts):
        ends = np.append(ends, len(e) - 1)
    longest = int((t[ends] - t[starts - 1]).max())
    return dd, longest / MS_PER_DAY


def compute_metrics(
    times: Sequence[int],
    equity: Sequence[float],
    trades: Sequence[Trade],
    *,
    initial_equity: float,
    fees_paid: float,
    funding_paid: float,
    exposed_points: int,
    liquidations: int,
) -> Metrics:
    final = float(equity[-1]) if len(equity) else initial_equity
    total_return = final / initial_equity - 1.0
    span_years = (times[-1] - times[0]) / MS_PER_DAY / 365.25 if len(times) > 1 else 0.0
    cagr = (
        (final / initial_equity) ** (1 / span_years) - 1.0
        if span_years > 0 and final > 0
        else float("nan")
    )
    # one list -> array conversion each (143k points: several ms), shared by both helpers;
    # ``fromiter`` with the count reads a list of floats in one pass (``asarray`` takes two)
    t_arr = np.fromiter(times, dtype=np.int64, count=len(times))
    e_arr = np.fromiter(equity, dtype=np.float64, count=len(equity))
    rets = daily_returns(t_arr, e_arr)  # type: ignore[arg-type]
    sharpe = sortino = float("nan")
    if len(rets) > 1:
        sd = float(np.std(rets, ddof=1))
        mean = float(np.mean(rets))
        sharpe = mean / sd * math.sqrt(DAYS_PER_YEAR) if sd > 0 else float("nan")
        downside = math.sqrt(float(np.mean(np.minimum(rets, 0.0) ** 2)))
        sortino = mean / downside * math.sqrt(DAYS_PER_YEAR) if downside > 0 else float("nan")
    max_dd, dd_days = drawdown(t_arr, e_arr)  # type: ignore[arg-type]
    nets = [t.net_pnl for t in trades]
    gross_win = sum(p for p in nets if p > 0)
    gross_loss = -sum(p for p in nets if p < 0)
    profit_factor = (
        gross_win / gross_loss
        if gross_loss > 0
        else float("inf")
        if gross_win > 0
        else float("nan")
    )
    return Metrics(
        initial_equity=initial_equity,
        final_equity=final,
        total_return=total_return,
        cagr=cagr,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=max_dd,
        max_drawdown_duration_days=dd_days,
        profit_factor=profit_factor,
        win_rate=sum(1 for p in nets if p > 0) / len(nets) if nets else float("nan"),
        average_trade=sum(nets) / len(nets) if nets else float("nan"),
        exposure=exposed_points / len(times) if len(times) else 0.0,
        fees_paid=fees_paid,
        funding_paid=funding_paid,
        trade_count=len(trades),
        liquidations=liquidations,
    )
