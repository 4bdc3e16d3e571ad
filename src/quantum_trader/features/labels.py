"""Labels: the direction of the forward return over a horizon, in three classes.

One definition for every model (tabular and forecasting), so all four vote the same way.
The forward return at t is ``close[t + h] / close[t] - 1``: it uses data after t, which is why
labels never enter the feature frame and the last ``h`` rows have no label (NaN, not a guess).
FLAT is a dead zone of ± ``dead_zone``, by default the round-trip taker fee, because a move
smaller than the fees cannot be traded at a profit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quantum_trader.domain.signals import Direction

#: class index → direction; models output probabilities in this order.
CLASSES: tuple[Direction, Direction, Direction] = (Direction.DOWN, Direction.FLAT, Direction.UP)
DOWN, FLAT, UP = 0, 1, 2


@dataclass(frozen=True, slots=True)
class LabelSpec:
    horizon: int = 4
    dead_zone: float = 2 * 0.0005  # round trip at the default 0.05% taker fee

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError(f"LabelSpec.horizon={self.horizon}: must be >= 1")
        if not 0 <= self.dead_zone < 0.5:
            raise ValueError(f"LabelSpec.dead_zone={self.dead_zone}: must be within [0, 0.5)")


def forward_returns(close: npt.NDArray[np.float64], horizon: int) -> npt.NDArray[np.float64]:
    """``close[t+h]/close[t]-1``; NaN for the last ``horizon`` rows.

    >>> forward_returns(np.array([1.0, 2.0, 1.0]), 1).tolist()
    [1.0, -0.5, nan]
    """
    out = np.full(close.shape, np.nan, dtype=np.float64)
    if horizon < len(close):
        out[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
    return out


def classify_returns(returns: npt.NDArray[np.float64], dead_zone: float) -> npt.NDArray[np.float64]:
    """DOWN=0 / FLAT=1 / UP=2 as floats, NaN where the return is NaN.

    >>> classify_returns(np.array([-0.01, 0.0, 0.01, np.nan]), 0.001).tolist()
    [0.0, 1.0, 2.0, nan]
    """
    labels = np.full(returns.shape, np.nan, dtype=np.float64)
    known = ~np.isnan(returns)
    r = returns[known]
    labels[known] = np.where(r > dead_zone, UP, np.where(r < -dead_zone, DOWN, FLAT))
    return labels


def classify_return(r: float, dead_zone: float) -> int:
    """One return's class: the scalar form of :func:`classify_returns` (a live label per call).

    >>> [classify_return(r, 0.001) for r in (-0.01, 0.0, 0.01)]
    [0, 1, 2]
    """
    return UP if r > dead_zone else DOWN if r < -dead_zone else FLAT


def direction_labels(close: npt.NDArray[np.float64], spec: LabelSpec) -> npt.NDArray[np.float64]:
    """Class labels for a close series under ``spec``."""
    return classify_returns(forward_returns(close, spec.horizon), spec.dead_zone)
