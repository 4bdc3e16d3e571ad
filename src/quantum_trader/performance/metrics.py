"""Performance figures of one equity curve and its closed trades: the one place each is computed.

Conventions (golden-tested against empyrical-reloaded in ``tests/performance/``):

* **Returns** are the simple per-bar returns of the equity curve, ``e[t] / e[t-1] - 1``: one
  per candle, so nothing is lost to resampling and a 15-minute run is judged on its own bars.
* **Annualisation**: :func:`periods_per_year` bars of the timeframe in a 365-day year (crypto
  trades every day; 1h -> 8,760, 15m -> 35,040). Risk-free rate 0.
* **Sharpe**: ``mean(r) / std(r, ddof=1) * sqrt(ppy)``. NaN under two returns. Returns that
  are all the same number have standard deviation exactly 0: the ratio is then NaN when they
  are 0 (a flat curve) and ±inf otherwise, as in empyrical.
* **Downside deviation**: ``sqrt(mean(min(r, 0)²)) * sqrt(ppy)``, the mean taken over *all*
  returns (not the standard deviation of the losing ones). **Sortino**:
  ``mean(r) * ppy / downside deviation``; NaN under two returns, ±inf without a losing bar.
* **Max drawdown**: the largest fall from the running peak of the equity curve, as a
  *positive* fraction of that peak (0.2 = 20 % below the peak). empyrical reports the same
  number negative, from returns anchored at a starting value; both agree when the curve's
  first point is that anchor.
* **Annual return**: compounded, ``prod(1 + r) ** (ppy / n) - 1``, n the number of returns.
* **Calmar**: annual return / max drawdown; NaN when there is no drawdown (or it is infinite).
* **Profit factor and win rate**: on each trade's net PnL; a trade at exactly 0 is not a win.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from quantum_trader.domain.time import MS_PER_DAY, timeframe_ms

FloatArray = npt.NDArray[np.float64]
DAYS_PER_YEAR = 365


def periods_per_year(timeframe: str) -> float:
    """Bars of ``timeframe`` in a 365-day year (an unknown timeframe is a ValueError).

    >>> periods_per_year("1h"), periods_per_year("15m"), periods_per_year("1d")
    (8760.0, 35040.0, 365.0)
    """
    return DAYS_PER_YEAR * MS_PER_DAY / timeframe_ms(timeframe)


def finite_series(values: npt.ArrayLike, what: str) -> FloatArray:
    """``values`` as a 1-D float array, refusing NaN and ±inf (named by ``what`` and index)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected a 1-D series, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):
        raise ValueError(f"{what}: non-finite value {float(arr[bad[0]])!r} at index {int(bad[0])}")
    return arr


def bar_returns(equity: npt.ArrayLike) -> FloatArray:
    """Simple returns ``equity[1:] / equity[:-1] - 1`` of a positive, finite equity curve.

    >>> bar_returns([100.0, 110.0, 99.0]).round(4).tolist()
    [0.1, -0.1]
    """
    e = finite_series(equity, "equity")
    low = np.flatnonzero(e <= 0)
    if len(low):
        raise ValueError(
            f"equity: non-positive value {float(e[low[0]])!r} at index {int(low[0])}; "
            "returns are undefined once the account is wiped out"
        )
    return e[1:] / e[:-1] - 1.0


def _dispersion(r: FloatArray) -> float:
    """Sample standard deviation (ddof=1), exactly 0 when every return is the same number (the
    mean they are centred on can differ from them in the last bit)."""
    if r.max() == r.min():
        return 0.0
    return float(np.std(r, ddof=1))


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` with IEEE semantics: x/0 -> ±inf, 0/0 -> NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(numerator) / np.float64(denominator))


def sharpe_ratio(returns: npt.ArrayLike, periods_per_year: float) -> float:
    """Annualised Sharpe ratio of per-period returns (risk-free 0); see the module's conventions.

    >>> round(sharpe_ratio([0.01, -0.01, 0.02], 365.0), 4)
    8.3381
    """
    r = finite_series(returns, "returns")
    if len(r) < 2:
        return math.nan
    return _ratio(float(np.mean(r)), _dispersion(r)) * math.sqrt(periods_per_year)


def downside_deviation(returns: npt.ArrayLike, periods_per_year: float) -> float:
    """Annualised root mean square of the returns below 0, over all returns (NaN when none).

    >>> round(downside_deviation([0.02, -0.01, 0.0, -0.03], 1.0), 6)
    0.015811
    """
    r = finite_series(returns, "returns")
    if len(r) < 1:
        return math.nan
    below = np.minimum(r, 0.0)
    return math.sqrt(float(np.mean(below * below))) * math.sqrt(periods_per_year)


def sortino_ratio(returns: npt.ArrayLike, periods_per_year: float) -> float:
    """Annualised mean return over the annualised downside deviation (risk-free and target 0).

    >>> round(sortino_ratio([0.02, -0.01, 0.0, -0.03], 1.0), 4)
    -0.3162
    """
    r = finite_series(returns, "returns")
    if len(r) < 2:
        return math.nan
    annual_mean = float(np.mean(r)) * periods_per_year
    return _ratio(annual_mean, downside_deviation(r, periods_per_year))


def max_drawdown(equity: npt.ArrayLike) -> float:
    """Largest fall from the running peak of an equity curve, as a positive fraction of that
    peak (0 for a curve that never falls, NaN for an empty one). The first point must be
    positive: it is the first peak.

    >>> max_drawdown([100.0, 120.0, 90.0, 130.0, 117.0])
    0.25
    """
    e = finite_series(equity, "equity")
    if len(e) == 0:
        return math.nan
    if e[0] <= 0:
        raise ValueError(f"equity: the first point {float(e[0])!r} must be positive (it is a peak)")
    peak = np.maximum.accumulate(e)
    return float(np.max((peak - e) / peak))


def equity_from_returns(returns: npt.ArrayLike, start: float = 1.0) -> FloatArray:
    """The equity curve ``start, start·(1+r0), …`` that the returns compound into.

    >>> equity_from_returns([0.1, -0.5]).round(4).tolist()
    [1.0, 1.1, 0.55]
    """
    r = finite_series(returns, "returns")
    return np.concatenate(([start], start * np.cumprod(1.0 + r)))


def annual_return(returns: npt.ArrayLike, periods_per_year: float) -> float:
    """Compounded annual growth: ``prod(1 + r) ** (ppy / n) - 1`` (NaN without returns).

    >>> round(annual_return([0.01] * 12, 12.0), 6)
    0.126825
    """
    r = finite_series(returns, "returns")
    if len(r) < 1:
        return math.nan
    growth = np.prod(1.0 + r)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.power(growth, periods_per_year / len(r)) - 1.0)


def _calmar(annual: float, drawdown: float) -> float:
    if not drawdown > 0:
        return math.nan
    value = annual / drawdown
    return value if math.isfinite(value) else math.nan


def calmar_ratio(returns: npt.ArrayLike, periods_per_year: float) -> float:
    """Annual return over max drawdown of the curve the returns compound into (NaN when it
    never falls).

    >>> round(calmar_ratio([0.1, -0.2, 0.15], 3.0), 6)
    0.06
    """
    r = finite_series(returns, "returns")
    return _calmar(annual_return(r, periods_per_year), max_drawdown(equity_from_returns(r)))


def profit_factor(trade_pnls: Sequence[float]) -> float:
    """Sum of winning trades over the absolute sum of losing ones: inf with wins and no losses,
    NaN with no trades or only break-even ones.

    >>> profit_factor([30.0, -10.0, 0.0, -5.0])
    2.0
    """
    p = finite_series(list(trade_pnls), "trade PnLs")
    wins = float(p[p > 0].sum())
    losses = -float(p[p < 0].sum())
    if losses > 0:
        return wins / losses
    return math.inf if wins > 0 else math.nan


def win_rate(trade_pnls: Sequence[float]) -> float:
    """Fraction of trades with a PnL above 0 (NaN with no trades).

    >>> win_rate([30.0, -10.0, 0.0, 5.0])
    0.5
    """
    p = finite_series(list(trade_pnls), "trade PnLs")
    return float(np.count_nonzero(p > 0) / len(p)) if len(p) else math.nan


@dataclass(frozen=True, slots=True)
class Performance:
    """The figures of one run (or one baseline) over the same candles; see the module's
    conventions. ``turnover`` is traded notional / mean equity; ``exposure`` is as the caller
    measured it; ``periods`` is the number of bar returns."""

    net_return: float
    annual_return: float
    sharpe: float
    sortino: float
    max_drawdown: float
    calmar: float
    profit_factor: float
    win_rate: float
    trades: int
    turnover: float
    exposure: float
    fees: float
    funding: float
    gross_pnl_abs: float
    periods: int
    periods_per_year: float

    def to_dict(self) -> dict[str, Any]:
        """Field -> value, with NaN and ±inf as None (JSON has neither)."""
        return json_safe(asdict(self))


def json_safe(figures: dict[str, Any]) -> dict[str, Any]:
    """``figures`` with NaN and ±inf as None (JSON has neither).

    >>> json_safe({"a": 1.0, "b": float("nan"), "c": 3})
    {'a': 1.0, 'b': None, 'c': 3}
    """
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in figures.items()
    }


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{what}={value!r}: must be finite")
    return float(value)


def performance(
    equity: npt.ArrayLike,
    *,
    timeframe: str,
    trade_net_pnls: Sequence[float],
    trade_gross_pnls: Sequence[float],
    fees: float,
    funding: float,
    traded_notional: float,
    exposure: float,
) -> Performance:
    """All figures of an equity curve (one point per bar of ``timeframe``, positive) and the
    net and gross PnL of each closed trade (the same trades, in the same order)."""
    e = finite_series(equity, "equity")
    if len(e) == 0:
        raise ValueError("equity: empty curve; a run has at least its starting point")
    if len(trade_net_pnls) != len(trade_gross_pnls):
        raise ValueError(
            f"trade PnLs: {len(trade_net_pnls)} net but {len(trade_gross_pnls)} gross; "
            "give both for every trade"
        )
    if _finite(traded_notional, "traded_notional") < 0:
        raise ValueError(f"traded_notional={traded_notional!r}: must be >= 0")
    if _finite(exposure, "exposure") < 0:
        raise ValueError(f"exposure={exposure!r}: must be >= 0")
    ppy = periods_per_year(timeframe)
    r = bar_returns(e)
    annual = annual_return(r, ppy)
    drawdown = max_drawdown(e)
    gross = finite_series(list(trade_gross_pnls), "gross trade PnLs")
    return Performance(
        net_return=float(e[-1] / e[0] - 1.0),
        annual_return=annual,
        sharpe=sharpe_ratio(r, ppy),
        sortino=sortino_ratio(r, ppy),
        max_drawdown=drawdown,
        calmar=_calmar(annual, drawdown),
        profit_factor=profit_factor(trade_net_pnls),
        win_rate=win_rate(trade_net_pnls),
        trades=len(trade_net_pnls),
        turnover=float(traded_notional / np.mean(e)),
        exposure=float(exposure),
        fees=_finite(fees, "fees"),
        funding=_finite(funding, "funding"),
        gross_pnl_abs=float(np.abs(gross).sum()),
        periods=len(r),
        periods_per_year=ppy,
    )
