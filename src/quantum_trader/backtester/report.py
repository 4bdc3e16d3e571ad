"""Backtest outputs: metrics JSON, a trades CSV, and a self-contained Plotly HTML report.

The report shows equity and drawdown, and per symbol the candles with entries (triangles) and
exits (crosses). Long candle series are merged into at most ``max_candles`` display candles per
symbol (OHLC of consecutive groups), so a 140k-candle replay still opens in a browser; the
markers keep their exact times and prices.
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
    max_candles: int = 3000,
    sections: Sequence[ReportSection] = (),
) -> dict[str, Path]:
    """``metrics.json``, ``trades.csv`` and ``report.html`` (the charts, then ``sections``)."""
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
    figure = build_figure(result, frames, max_candles=max_candles)
    charts = figure.to_html(include_plotlyjs=True, full_html=False)
    tables = "".join(section.to_html() for section in sections)
    paths["report"].write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(result.run_id)}</title></head>"
        f"<body>{charts}{tables}</body></html>",
        encoding="utf-8",
    )
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


def build_figure(
    result: SessionResult, frames: Mapping[str, pd.DataFrame], *, max_candles: int = 3000
) -> go.Figure:
    symbols = sorted(frames)
    rows = 2 + len(symbols)
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=False,
        vertical_spacing=0.04,
        subplot_titles=["Equity (USDT)", "Drawdown"]
        + [f"{s} candles, entries and exits" for s in symbols],
        row_heights=[0.25, 0.12] + [0.63 / max(len(symbols), 1)] * len(symbols),
    )
    times = pd.to_datetime(np.asarray(result.equity_times, dtype=np.int64), unit="ms", utc=True)
    equity = np.asarray(result.equity_values, dtype=np.float64)
    peak = np.maximum.accumulate(equity) if len(equity) else equity
    fig.add_trace(go.Scatter(x=times, y=equity, name="equity", line={"width": 1}), row=1, col=1)
    fig.add_trace(
        go.Scatter(
            x=times,
            y=(equity - peak) / peak if len(equity) else equity,
            name="drawdown",
            fill="tozeroy",
            line={"width": 1, "color": "firebrick"},
        ),
        row=2,
        col=1,
    )
    for i, symbol in enumerate(symbols, start=3):
        shown = _display_candles(frames[symbol], max_candles)
        fig.add_trace(
            go.Candlestick(
                x=pd.to_datetime(shown["open_time"], unit="ms", utc=True),
                open=shown["open"],
                high=shown["high"],
                low=shown["low"],
                close=shown["close"],
                name=symbol,
                showlegend=False,
            ),
            row=i,
            col=1,
        )
        trades = [t for t in result.trades if t.symbol == symbol]
        for side, colour, symbol_name in (
            ("BUY", "green", "triangle-up"),
            ("SELL", "red", "triangle-down"),
        ):
            chosen = [t for t in trades if t.side.value == side]
            fig.add_trace(
                go.Scatter(
                    x=pd.to_datetime([t.entry_time for t in chosen], unit="ms", utc=True),
                    y=[t.entry_price for t in chosen],
                    mode="markers",
                    marker={"symbol": symbol_name, "color": colour, "size": 9},
                    name=f"{symbol} {'long' if side == 'BUY' else 'short'} entry",
                ),
                row=i,
                col=1,
            )
        fig.add_trace(
            go.Scatter(
                x=pd.to_datetime([t.exit_time for t in trades], unit="ms", utc=True),
                y=[t.exit_price for t in trades],
                mode="markers",
                marker={"symbol": "x", "color": "black", "size": 7},
                name=f"{symbol} exit",
                text=[f"{t.exit_reason} net {t.net_pnl:.2f}" for t in trades],
            ),
            row=i,
            col=1,
        )
        fig.update_xaxes(rangeslider_visible=False, row=i, col=1)
    fig.update_layout(height=500 + 450 * len(symbols), title=f"Backtest {result.run_id}")
    return fig
