"""A system evaluation as data: the JSON written beside the report, the rows of the printed
tables, and the two acceptance readings (cost share, system against Neutral)."""

from __future__ import annotations

import math
from typing import Any

from quantum_trader.domain.time import fmt
from quantum_trader.evaluation.system import SystemEvaluation, VariantResult
from quantum_trader.performance.display import COLUMNS, cell
from quantum_trader.performance.metrics import Performance

__all__ = ["COLUMNS", "cell", "cost_share", "readings", "row", "to_payload"]


def row(performance: Performance) -> list[str]:
    figures = performance.to_dict()
    return [cell(figures.get(key), kind) for key, _, kind in COLUMNS]


def cost_share(total: Performance) -> float | None:
    """Fees and funding as a share of the trades' absolute gross PnL (None without trades)."""
    if total.gross_pnl_abs <= 0:
        return None
    return (total.fees + total.funding) / total.gross_pnl_abs


def readings(evaluation: SystemEvaluation) -> dict[str, Any]:
    """The acceptance readings: the system's cost share (at most a third) and its Sharpe against
    Neutral's (the interval must include or exceed zero)."""
    system = evaluation.system.total
    share = cost_share(system)
    neutral = evaluation.comparisons.get("neutral")
    return {
        "cost_share": share,
        "cost_share_at_most_a_third": share is None or share <= 1 / 3,
        "vs_neutral_sharpe_interval": (None if neutral is None else [neutral.low, neutral.high]),
        "not_below_neutral": neutral is None or neutral.high >= 0,
    }


def _variant(result: VariantResult) -> dict[str, Any]:
    return {
        "kind": result.variant.kind,
        "description": result.variant.description,
        "overrides": dict(result.variant.overrides),
        "trader": result.variant.trader,
        "same_as": result.same_as,
        "total": result.total.to_dict(),
        "folds": [p.to_dict() for p in result.folds],
        "seconds": [round(r.seconds, 2) for r in result.runs],
    }


def to_payload(evaluation: SystemEvaluation, **context: Any) -> dict[str, Any]:
    """The evaluation as JSON-safe data (``context``: what produced it — symbols, window …)."""

    def safe(value: float) -> float | None:
        return value if math.isfinite(value) else None

    return {
        **context,
        "timeframe": evaluation.timeframe,
        "folds": [
            {
                "index": f.index + 1,
                "train": [fmt(f.train_start), fmt(f.train_end)],
                "test": [fmt(f.start), fmt(f.end)],
            }
            for f in evaluation.folds
        ],
        "variants": {name: _variant(r) for name, r in evaluation.results.items()},
        "system_minus_baseline_sharpe": {
            name: {
                "point": safe(ci.point),
                "low": safe(ci.low),
                "high": safe(ci.high),
                "samples": ci.samples,
                "block": ci.block,
            }
            for name, ci in evaluation.comparisons.items()
        },
        "psr": safe(evaluation.psr),
        "dsr": safe(evaluation.dsr),
        "trials": evaluation.trials,
        "trial_sharpe_variance": evaluation.trial_sharpe_variance,
        "readings": readings(evaluation),
        "seconds": round(evaluation.seconds, 1),
    }
