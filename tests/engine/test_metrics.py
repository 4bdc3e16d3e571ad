"""The vectorised drawdown duration agrees with a point-by-point walk of the equity curve."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.domain.time import MS_PER_DAY
from quantum_trader.engine.metrics import drawdown


def _longest_underwater_days(times: list[int], equity: list[float]) -> float:
    """One point at a time: from the last peak until equity is back at it (or the end)."""
    longest = 0
    peak = -np.inf
    peak_time = 0
    since: int | None = None
    for t, e in zip(times, equity, strict=True):
        if e >= peak:
            if since is not None:
                longest = max(longest, t - since)
                since = None
            peak, peak_time = e, t
        else:
            since = peak_time if since is None else since
            longest = max(longest, t - since)
    return longest / MS_PER_DAY


@pytest.mark.parametrize("seed", range(40))
def test_drawdown_duration_matches_a_point_by_point_walk(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    times = (np.cumsum(rng.integers(1, 10, n)) * 3_600_000).tolist()
    equity = 100 + np.cumsum(rng.normal(0, 1, n))
    if seed % 2:
        equity = np.round(equity)  # equity back exactly at the peak counts as recovered
    max_dd, days = drawdown(times, equity.tolist())
    assert days == _longest_underwater_days(times, equity.tolist())
    peak = np.maximum.accumulate(equity)
    assert max_dd == pytest.approx(float(np.max((peak - equity) / peak)))
