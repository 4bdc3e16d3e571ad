"""Replay outputs: metrics JSON, a trades CSV, and a self-contained Plotly HTML report.

The report (of ``run`` and ``backtest``; its title says which) shows the equity against equal-
weight buy and hold of the same symbols, the underwater (drawdown) curve, the risk-state
timeline, per symbol the candles with entries (triangles) and exits (crosses), then monthly
returns and per-strategy attribution (``report_parts.py``). Long candle series are merged into
at most ``max_candles`` display candles per symbol (OHLC of consecutive groups), so a
140k-candle replay still opens in a browser; the markers keep their exact times and prices.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from quantum_trader.backtester.report_parts import (
    STATE_ORDER,
    add_candles,
    attribution,
    attribution_table,
    buy_and_hold,
    document,
    monthly_returns,
    monthly_table,
    risk_timeline_trace,
    underwater,
    utc,
)
from quantum_trader.engine.session import SessionResult


@dataclass(frozen=True, slots=True)
class ReportSection:
    """A table the report shows under its charts: a title and (label, value) rows, both plain
    text (escaped when written)."""

    title: str
    rows: Sequence[tuple[str, str]]

    def to_html(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td><code>{html.escape(v)}</code></td></tr>"
            for k, v in self.rows
        )
        return f"<h2>{html.escape(self.title)}</h2><table>{cells}</table>"


def write_outputs(
    result: SessionResult,
    frames: Mapping[str, pd.DataFrame],
    out_dir: Path,
    *,
    kind: str = "backtest",
    max_candles: int = 3000,
    sections: Sequence[ReportSection] = (),
    risk_timeline: Sequence[tuple[int, str, str]] = (),
) -> dict[str, Path]:
    """``metrics.json``, ``trades.csv`` and ``report.html`` (the charts, the monthly returns
    and attribution tables, then ``sections``). ``kind`` (``run`` or ``backtest``) titles the
    report; ``risk_timeline``: (time, risk mode, trading state) at each change."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out_dir / "metrics.json",
        "trades": out_dir / "trades.csv",
        "report": out_dir / "report.html",
    }
    payload = {
        "run_id": result.run_id,
        "candles": result.candles,
        "ledger_digest": result.ledger_digest,
        "event_log_hash": result.event_log_hash,
        "metrics": result.metrics.to_dict(),
    }
    paths["metrics"].write_text(json.dumps(payload, indent=2, sort_keys=True))
    write_trades_csv(result, paths["trades"])
    figure = build_figure(result, frames, max_candles=max_candles, risk_timeline=risk_timeline)
    charts = figure.to_html(include_plotlyjs=True, full_html=False)
    tables = (
        monthly_table(monthly_returns(result.equity_times, result.equity_values))
        + attribution_table(attribution(result.trades))
        + "".join(section.to_html() for section in sections)
    )
    title = f"{kind} report — {result.run_id}"
    paths["report"].write_text(document(title, charts + tables), encoding="utf-8")
    return paths


def write_trades_csv(result: SessionResult, path: Path) -> None:
    fields = [
        "trade_id",
        "symbol",
        "side",
        "quantity",
        "entry_time",
        "entry_price",
        "exit_time",
        "exit_price",
        "pnl",
        "fees",
        "funding",
        "net_pnl",
        "exit_reason",
    ]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        for t in result.trades:
            writer.writerow(
                [
                    t.trade_id,
                    t.symbol,
                    t.side.value,
                    t.quantity,
                    pd.Timestamp(t.entry_time, unit="ms", tz="UTC").isoformat(),
                    t.entry_price,
                    pd.Timestamp(t.exit_time, unit="ms", tz="UTC").isoformat(),
                    t.exit_price,
                    t.pnl,
                    t.fees,
                    t.funding,
                    t.net_pnl,
                    t.exit_reason,
                ]
            )


def build_figure(
    result: SessionResult,
    frames: Mapping[str, pd.DataFrame],
    *,
    max_candles: int = 3000,
    risk_timeline: Sequence[tuple[int, str, str]] = (),
) -> go.Figure:
    symbols = sorted(frames)
    rows = 3 + len(symbols)
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=False,
        # plotly refuses a spacing above 1 / (rows - 1): with 50 symbols (53 rows) 0.03 was,
        # and the run's report failed after its replay (bench/bench_load_50.py)
        vertical_spacing=min(0.03, 0.5 / (rows - 1)),
        subplot_titles=[
            "Equity against equal-weight buy and hold (USDT; buy and hold before costs)",
            "Underwater: drawdown from the running peak",
            "Risk-state timeline (trading state; risk mode dotted)",
        ]
        + [f"{s} candles, entries and exits" for s in symbols],
        row_heights=[0.22, 0.1, 0.08] + [0.6 / max(len(symbols), 1)] * len(symbols),
    )
    times = utc(result.equity_times)
    equity = np.asarray(result.equity_values, dtype=np.float64)
    fig.add_trace(go.Scatter(x=times, y=equity, name="equity", line={"width": 1.5}), row=1, col=1)
    if len(equity):
        hold = buy_and_hold(frames, result.equity_times, float(equity[0]))
        fig.add_trace(
            go.Scatter(x=times, y=hold, name="buy and hold", line={"width": 1, "color": "grey"}),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=times,
            y=underwater(equity),
            name="drawdown",
            fill="tozeroy",
            line={"width": 1, "color": "firebrick"},
        ),
        row=2,
        col=1,
    )
    end = int(result.equity_times[-1]) if result.equity_times else 0
    for trace in risk_timeline_trace(risk_timeline, end):
        fig.add_trace(trace, row=3, col=1)
    states = [s for s in STATE_ORDER if s in {state for _, _, state in risk_timeline}]
    modes = sorted({mode for _, mode, _ in risk_timeline})
    fig.update_yaxes(
        type="category", categoryorder="array", categoryarray=modes + states, row=3, col=1
    )
    for i, symbol in enumerate(symbols, start=4):
        trades = [t for t in result.trades if t.symbol == symbol]
        add_candles(fig, i, symbol, frames[symbol], trades, max_candles)
    fig.update_layout(height=650 + 450 * len(symbols), title=f"{result.run_id}")
    return fig
