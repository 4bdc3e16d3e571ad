"""Performance metrics, computed from the simulated trades and equity curve (never estimated).

Each figure that ``performance/metrics.py`` defines is computed there (one place, golden-tested
against empyrical-reloaded); this module adds what needs the run itself: times, trades,
liquidations. Conventions (also in docs/execution.md):

* Returns for Sharpe and Sortino are per bar: the equity at each candle close relative to the
  previous close, annualised with the bars of the run's timeframe in a 365-day year
  (``periods_per_year``: 8,760 for 1h, 35,040 for 15m; crypto trades every day); risk-free 0.
  Sharpe uses the sample standard deviation (ddof=1); Sortino divides the annualised mean by
  the annualised downside deviation √(mean(min(r, 0)²)) over all bars. Under two returns
  they are NaN, and so they are when equity reaches 0 or below (returns stop being defined).
* CAGR uses the calendar span of the equity curve in 365.25-day years.
* Max drawdown is the largest fall from a running peak, as a fraction of that peak; its
  duration is the longest time from a peak until equity regained it (or the end of the data).
* Exposure is the fraction of equity points (candle close times) with any open position.
* Win rate, average trade and profit factor use each trade's net PnL (after fees and funding);
  a trade at exactly 0 is not a win.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from quantum_trader.domain.positions import Trade
from quantum_trader.domain.time import MS_PER_DAY
from quantum_trader.performance.metrics import (
    bar_returns,
    json_safe,
    max_drawdown,
    periods_per_year,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    win_rate,
)


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
    periods: int
    periods_per_year: float

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))


def drawdown(times: Sequence[int], equity: Sequence[float]) -> tuple[float, float]:
    """(max drawdown as a fraction of the peak, longest underwater duration in days).

    >>> drawdown([0, MS_PER_DAY, 2 * MS_PER_DAY, 3 * MS_PER_DAY], [100.0, 80.0, 90.0, 101.0])
    (0.2, 3.0)
    """
    if len(equity) == 0:
        return 0.0, 0.0
    e = np.asarray(equity, dtype=np.float64)
    t = np.asarray(times, dtype=np.int64)
    dd = max_drawdown(e)
    peak = np.maximum.accumulate(e)
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
    timeframe: str = "1h",
) -> Metrics:
    """The run's metrics from its equity curve (one point per ``timeframe`` candle close)."""
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
    ppy = periods_per_year(timeframe)
    # returns stop being defined once the account is wiped out: no ratio for such a run
    rets = bar_returns(e_arr) if len(e_arr) and e_arr.min() > 0 else np.zeros(0)
    max_dd, dd_days = drawdown(t_arr, e_arr)  # type: ignore[arg-type]
    nets = [t.net_pnl for t in trades]
    return Metrics(
        initial_equity=initial_equity,
        final_equity=final,
        total_return=total_return,
        cagr=cagr,
        sharpe=sharpe_ratio(rets, ppy),
        sortino=sortino_ratio(rets, ppy),
        max_drawdown=max_dd,
        max_drawdown_duration_days=dd_days,
        profit_factor=profit_factor(nets),
        win_rate=win_rate(nets),
        average_trade=sum(nets) / len(nets) if nets else float("nan"),
        exposure=exposed_points / len(times) if len(times) else 0.0,
        fees_paid=fees_paid,
        funding_paid=funding_paid,
        trade_count=len(trades),
        liquidations=liquidations,
        periods=max(len(e_arr) - 1, 0),
        periods_per_year=ppy,
    )
