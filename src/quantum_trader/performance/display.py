"""How a run's figures are shown in tables (the printed evaluation, the HTML reports): which
figures, under what title, formatted how."""

from __future__ import annotations

import math
from typing import Any

#: the figures of a variant, fold or run as tables show them: key, title, kind of cell
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("net_return", "net", "pct"),
    ("sharpe", "Sharpe", "num"),
    ("sortino", "Sortino", "num"),
    ("max_drawdown", "max DD", "pct"),
    ("calmar", "Calmar", "num"),
    ("profit_factor", "PF", "num"),
    ("win_rate", "win", "pct"),
    ("trades", "trades", "int"),
    ("turnover", "turnover", "num"),
    ("exposure", "exposure", "pct"),
    ("fees", "fees", "money"),
    ("funding", "funding", "money"),
)


def cell(value: Any, kind: str) -> str:
    """One figure as the tables show it ("—" where it is undefined).

    >>> cell(0.1234, "pct"), cell(None, "num"), cell(1234.5, "money"), cell(float("inf"), "num")
    ('12.34%', '—', '1,234.50', '—')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "int":
        return str(int(value))
    if kind == "money":
        return f"{value:,.2f}"
    return f"{value:.2f}"
