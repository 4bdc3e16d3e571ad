"""The HTML report of ``evaluate --system``: what a trader reads to judge the system.

It takes the evaluation as data (the JSON written beside it), each variant's chained equity
curve and the system's trades and risk-state changes, and shows: the system's equity against
buy and hold and the other baselines, the system's underwater curve, its risk-state timeline,
its trades on the candles, the table of every variant's figures over all folds with the Sharpe
differences and their bootstrap intervals, the system's figures per fold, its monthly returns
and per-strategy attribution, PSR and DSR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from quantum_trader.backtester.report_parts import (
    add_candles,
    attribution,
    attribution_table,
    document,
    html_table,
    monthly_returns,
    monthly_table,
    risk_timeline_trace,
    underwater,
    utc,
)
from quantum_trader.domain.positions import Trade
from quantum_trader.performance.display import COLUMNS, cell


def _charts(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    frames: Mapping[str, pd.DataFrame],
    trades: Sequence[Trade],
    risk_timeline: Sequence[tuple[int, str, str]],
) -> go.Figure:
    symbols = sorted(frames)
    fig = make_subplots(
        rows=3 + len(symbols),
        cols=1,
        row_heights=[0.3, 0.12, 0.08] + [0.5 / max(len(symbols), 1)] * len(symbols),
        vertical_spacing=0.04,
        subplot_titles=(
            "Equity, folds chained (start = 1): the system against buy and hold and the others",
            "System underwater: drawdown from the running peak",
            "System risk-state timeline (each fold starts ACTIVE; risk mode dotted)",
            *(f"{s}: the system's trades on the candles" for s in symbols),
        ),
    )
    for name, (times, equity) in curves.items():
        x = utc(times[: len(equity) - 1])
        y = np.asarray(equity, dtype=np.float64)[1:]
        width = 2.5 if name == "system" else 1.2
        fig.add_trace(go.Scatter(x=x, y=y, name=name, line={"width": width}), row=1, col=1)
        if name == "system":
            fig.add_trace(
                go.Scatter(x=x, y=underwater(y), name="system drawdown", fill="tozeroy"),
                row=2,
                col=1,
            )
    end = int(max((t[-1] for t, _ in curves.values() if len(t)), default=0))
    for trace in risk_timeline_trace(risk_timeline, end):
        fig.add_trace(trace, row=3, col=1)
    for row, symbol in enumerate(symbols, start=4):
        chosen = [t for t in trades if t.symbol == symbol]
        add_candles(fig, row, symbol, frames[symbol], chosen, max_candles=2000)
    fig.update_layout(height=900 + 400 * len(symbols), legend={"orientation": "h"})
    return fig


def _with_start(times: Sequence[int], equity: Sequence[float]) -> tuple[list[int], list[float]]:
    """The chained curve with a time for its first point (one candle before the first return's
    close), so the first month is measured from the start."""
    if len(times) < 2:
        return list(times), list(equity[1:])
    step = int(times[1]) - int(times[0])
    return [int(times[0]) - step, *map(int, times)], list(equity)


def write_evaluation_report(
    payload: Mapping[str, Any],
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    path: Path,
    *,
    frames: Mapping[str, pd.DataFrame] | None = None,
    trades: Sequence[Trade] = (),
    risk_timeline: Sequence[tuple[int, str, str]] = (),
) -> Path:
    """Write the report to ``path`` (``payload``: ``evaluation/summary.to_payload``'s data;
    ``curves``: each variant's return times and chained equity, the system first; ``frames``:
    the candles of the folds; ``trades`` and ``risk_timeline``: the system's, all folds)."""
    variants: Mapping[str, Any] = payload["variants"]
    header = ["variant", *(title for _, title, _ in COLUMNS), "system − this Sharpe (95 % CI)"]
    rows: list[list[str]] = []
    for name, data in variants.items():
        ci = payload["system_minus_baseline_sharpe"].get(name)
        versus = (
            ""
            if ci is None or ci["point"] is None
            else f"{ci['point']:+.2f} [{ci['low']:+.2f}, {ci['high']:+.2f}]"
        )
        label = name if not data["same_as"] else f"{name} (same settings as {data['same_as']})"
        totals = data["total"]
        rows.append([label, *(cell(totals.get(k), kind) for k, _, kind in COLUMNS), versus])
    fold_rows = [
        [f"{f['index']}: {f['test'][0][:10]} → {f['test'][1][:10]}"]
        + [cell(figures.get(k), kind) for k, _, kind in COLUMNS]
        for f, figures in zip(payload["folds"], variants["system"]["folds"], strict=True)
    ]
    readings = payload["readings"]
    share = readings["cost_share"]
    facts = [
        ("symbols", ", ".join(payload.get("symbols", []))),
        ("window", f"{payload.get('start', '')} → {payload.get('end', '')}"),
        (
            "training",
            f"{payload.get('window', '')} windows of {payload.get('train_days')} d, "
            f"embargo {payload.get('embargo_hours')} h",
        ),
        ("models", ", ".join(payload.get("models", []))),
        ("PSR (system Sharpe > 0)", cell(payload["psr"], "num")),
        ("DSR", f"{cell(payload['dsr'], 'num')} over {payload['trials']} trial(s) in the ledger"),
        ("fees + funding / |gross PnL|", "—" if share is None else f"{share:.1%}"),
        ("code version", str(payload.get("code_version", ""))),
    ]
    chart = _charts(curves, frames or {}, trades, risk_timeline)
    system_times, system_equity = curves["system"]
    title = f"evaluate report — system walk-forward {payload.get('folder', '')}"
    body = (
        html_table(["", ""], facts)
        + chart.to_html(full_html=False, include_plotlyjs=True)
        + "<h2>All folds, out of sample, after costs</h2>"
        + html_table(header, rows)
        + "<h2>System per fold</h2>"
        + html_table(["fold", *(t for _, t, _ in COLUMNS)], fold_rows)
        + monthly_table(monthly_returns(*_with_start(system_times, system_equity)))
        + attribution_table(attribution(trades))
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document(title, body), encoding="utf-8")
    return path
