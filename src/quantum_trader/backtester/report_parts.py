"""The pieces of a report a trader reads, shared by the reports of ``run``, ``backtest`` and
``evaluate``: buy and hold over the same candles, the underwater curve, monthly returns,
per-strategy attribution and the risk-state timeline — each as data, and as Plotly traces or
an HTML table.

All inputs are what a replay produced (equity points, closed trades, candles); nothing here
estimates a figure the replay did not measure.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from quantum_trader.domain.positions import Trade

#: the trading states from calm to stopped, bottom to top of the timeline chart
STATE_ORDER = ("ACTIVE", "REDUCING", "HALTED")


def utc(times: Sequence[int] | np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(times, dtype=np.int64), unit="ms", utc=True)


def buy_and_hold(
    frames: Mapping[str, pd.DataFrame], times: Sequence[int], initial: float
) -> np.ndarray:
    """Equal-weight buy and hold of ``frames``' symbols, marked at ``times`` (each point uses
    the last close at or before it), bought at each symbol's first close, before costs.

    >>> f = pd.DataFrame({"open_time": [0, 10], "close": [100.0, 110.0]})
    >>> g = pd.DataFrame({"open_time": [0, 10], "close": [50.0, 60.0]})
    >>> buy_and_hold({"A": f, "B": g}, [10, 20], 1000.0).round(6).tolist()
    [1000.0, 1150.0]
    """
    if not frames or len(times) == 0:
        return np.zeros(len(times))
    at = np.asarray(times, dtype=np.int64)
    growth = np.zeros(len(at))
    for frame in frames.values():
        opens = frame["open_time"].to_numpy(dtype=np.int64)
        closes = frame["close"].to_numpy(dtype=np.float64)
        step = int(opens[1] - opens[0]) if len(opens) > 1 else 0
        # the close of the candle opening at t is known at t + step
        index = np.searchsorted(opens + step, at, side="right") - 1
        marks = np.where(index >= 0, closes[np.clip(index, 0, None)], closes[0])
        growth += marks / closes[0]
    return initial * growth / len(frames)


def underwater(equity: np.ndarray) -> np.ndarray:
    """Each point's fall from the running peak, as a (non-positive) fraction of that peak."""
    if len(equity) == 0:
        return equity
    peak = np.maximum.accumulate(equity)
    return np.asarray(equity / peak - 1.0, dtype=np.float64)


def monthly_returns(times: Sequence[int], equity: Sequence[float]) -> pd.DataFrame:
    """Each calendar month's return (UTC): its last equity point against the previous month's
    last (the first month against the first point). Rows are years, columns months 1–12
    (NaN where the replay did not reach)."""
    if len(times) < 2:
        return pd.DataFrame(columns=range(1, 13), dtype=np.float64)
    index = utc(times)
    series = pd.Series(np.asarray(equity, dtype=np.float64), index=index)
    month_end = series.groupby([index.year, index.month]).last()
    previous = np.concatenate(([float(series.iloc[0])], month_end.to_numpy()[:-1]))
    returns = month_end.to_numpy() / previous - 1.0
    table = pd.Series(returns, index=month_end.index).unstack()
    return table.reindex(columns=range(1, 13))


@dataclass(frozen=True, slots=True)
class StrategyAttribution:
    strategy: str
    trades: int
    wins: int
    gross_pnl: float
    costs: float  # fees + funding paid
    net_pnl: float

    @property
    def win_rate(self) -> float:
        return self.wins / self.trades if self.trades else float("nan")


def attribution(trades: Sequence[Trade]) -> list[StrategyAttribution]:
    """Closed trades' PnL per strategy that opened them, largest net contribution first."""
    groups: dict[str, list[Trade]] = {}
    for trade in trades:
        groups.setdefault(trade.strategy or "(none)", []).append(trade)
    rows = [
        StrategyAttribution(
            name,
            len(group),
            sum(1 for t in group if t.net_pnl > 0),
            sum(t.pnl for t in group),
            sum(t.fees + t.funding for t in group),
            sum(t.net_pnl for t in group),
        )
        for name, group in groups.items()
    ]
    return sorted(rows, key=lambda r: -r.net_pnl)


def attribution_table(rows: Sequence[StrategyAttribution]) -> str:
    header = ["strategy", "trades", "win rate", "gross PnL", "fees + funding", "net PnL"]
    body = [
        [
            r.strategy,
            str(r.trades),
            "—" if r.trades == 0 else f"{r.win_rate:.0%}",
            f"{r.gross_pnl:,.2f}",
            f"{r.costs:,.2f}",
            f"{r.net_pnl:,.2f}",
        ]
        for r in rows
    ]
    if not body:
        return "<h2>Per-strategy attribution</h2><p>No closed trades.</p>"
    return "<h2>Per-strategy attribution (closed trades)</h2>" + html_table(header, body)


def monthly_table(table: pd.DataFrame) -> str:
    if table.empty:
        return "<h2>Monthly returns</h2><p>Less than two equity points.</p>"
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    body = []
    for year, values in table.iterrows():
        cells = ["" if np.isnan(v) else f"{v:+.2%}" for v in values.to_numpy(dtype=np.float64)]
        body.append([str(year), *cells])
    return "<h2>Monthly returns (UTC months)</h2>" + html_table(["year", *names], body)


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain table; every cell escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def risk_timeline_trace(
    timeline: Sequence[tuple[int, str, str]], end: int
) -> tuple[go.Scatter, go.Scatter]:
    """The trading state and the risk mode as step lines from each change to the next (the
    last held until ``end``)."""
    if timeline:
        times = [t for t, _, _ in timeline] + [end]
        modes = [m for _, m, _ in timeline] + [timeline[-1][1]]
        states = [s for _, _, s in timeline] + [timeline[-1][2]]
    else:
        times, modes, states = [], [], []
    state = go.Scatter(
        x=utc(times),
        y=states,
        mode="lines",
        line={"shape": "hv", "color": "firebrick", "width": 2},
        name="trading state",
    )
    mode = go.Scatter(
        x=utc(times),
        y=modes,
        mode="lines",
        line={"shape": "hv", "color": "steelblue", "width": 1, "dash": "dot"},
        name="risk mode",
    )
    return state, mode


STYLE = (
    "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
    "margin-bottom:2em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}</style>"
)


def document(title: str, body: str) -> str:
    """A whole HTML page (UTF-8, so arrows and dashes are written as themselves)."""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>{STYLE}</head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _display_candles(frame: pd.DataFrame, max_candles: int) -> pd.DataFrame:
    n = len(frame)
    if n <= max_candles:
        return frame
    group = np.arange(n) // int(np.ceil(n / max_candles))
    return frame.groupby(group).agg(
        open_time=("open_time", "first"),
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
    )


def add_candles(
    fig: go.Figure,
    row: int,
    symbol: str,
    frame: pd.DataFrame,
    trades: Sequence[Trade],
    max_candles: int,
) -> None:
    """One symbol's candles with its trades' entries (triangles) and exits (crosses)."""
    shown = _display_candles(frame, max_candles)
    fig.add_trace(
        go.Candlestick(
            x=utc(shown["open_time"].to_numpy()),
            open=shown["open"],
            high=shown["high"],
            low=shown["low"],
            close=shown["close"],
            name=symbol,
            showlegend=False,
        ),
        row=row,
        col=1,
    )
    for side, colour, marker in (("BUY", "green", "triangle-up"), ("SELL", "red", "triangle-down")):
        chosen = [t for t in trades if t.side.value == side]
        fig.add_trace(
            go.Scatter(
                x=utc([t.entry_time for t in chosen]),
                y=[t.entry_price for t in chosen],
                mode="markers",
                marker={"symbol": marker, "color": colour, "size": 9},
                name=f"{symbol} {'long' if side == 'BUY' else 'short'} entry",
                text=[t.strategy for t in chosen],
            ),
            row=row,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=utc([t.exit_time for t in trades]),
            y=[t.exit_price for t in trades],
            mode="markers",
            marker={"symbol": "x", "color": "black", "size": 7},
            name=f"{symbol} exit",
            text=[f"{t.exit_reason} net {t.net_pnl:.2f}" for t in trades],
        ),
        row=row,
        col=1,
    )
    fig.update_xaxes(rangeslider_visible=False, row=row, col=1)
