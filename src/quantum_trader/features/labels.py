"""Labels: what every member learns to predict, in three classes (DOWN=0, FLAT=1, UP=2).

One definition for every model (tabular and forecasting), so all four vote the same way. The
label is one of two kinds (:class:`LabelSpec`, ``QT_LABEL``):

* ``"sign"`` (the default): the direction of the forward return over a horizon. The forward
  return at t is ``close[t + h] / close[t] - 1``: it uses data after t, which is why labels
  never enter the feature frame and the last ``h`` rows have no label (NaN, not a guess). FLAT
  is a dead zone of ± ``dead_zone``, by default the round-trip taker fee, because a move smaller
  than the fees cannot be traded at a profit.
* ``"barrier"``: the volatility-scaled triple barrier (:mod:`~quantum_trader.features.triple_barrier`,
  spec :class:`BarrierSpec`), with the horizon as its time limit. It reads highs and lows, so it
  is computed from candles (``features/dataset.py``), never from closes alone.

Both specs live here, beside the classes, so that a :class:`LabelSpec` can name its barrier
(``LabelSpec.barrier_spec``) without this module importing the labelling code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from quantum_trader.domain.signals import Direction

#: class index → direction; models output probabilities in this order.
CLASSES: tuple[Direction, Direction, Direction] = (Direction.DOWN, Direction.FLAT, Direction.UP)
DOWN, FLAT, UP = 0, 1, 2

LabelKind = Literal["sign", "barrier"]
VerticalRule = Literal["flat", "sign"]
#: round trip at the default 0.05 % taker fee
DEFAULT_DEAD_ZONE = 2 * 0.0005


@dataclass(frozen=True, slots=True)
class BarrierSpec:
    """Barriers in multiples of the per-candle volatility σ, a time limit in candles, and what
    the time limit means (``vertical``: ``"flat"``, or ``"sign"`` of the return beyond
    ``dead_zone``, by default the round-trip taker fee as for the sign-of-return label). The
    method is :mod:`~quantum_trader.features.triple_barrier`'s."""

    horizon: int = 24
    upper: float = 2.0
    lower: float = 2.0
    vol_span: int = 100
    vertical: VerticalRule = "flat"
    dead_zone: float = DEFAULT_DEAD_ZONE

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError(f"BarrierSpec.horizon={self.horizon}: must be >= 1")
        _check_barriers("BarrierSpec", self.upper, self.lower, self.vol_span)
        if self.vertical not in ("flat", "sign"):
            raise ValueError(f"BarrierSpec.vertical={self.vertical!r}: 'flat' or 'sign'")
        if not 0 <= self.dead_zone < 0.5:
            raise ValueError(f"BarrierSpec.dead_zone={self.dead_zone}: must be within [0, 0.5)")


@dataclass(frozen=True, slots=True)
class LabelSpec:
    """The label every member learns: its ``kind`` (see the module docstring), the ``horizon``
    in candles (the sign label's forward return, the barrier label's time limit) and the FLAT
    ``dead_zone``. ``upper``, ``lower`` (multiples of σ) and ``vol_span`` (σ's EWM span) are
    the barrier's and ignored by the sign kind. The default is the sign label of 4 candles.

    >>> spec = LabelSpec(horizon=24, kind="barrier", upper=3.0)
    >>> spec.barrier_spec().upper, spec.barrier_spec().vertical, spec.sign_spec().kind
    (3.0, 'flat', 'sign')
    """

    horizon: int = 4
    dead_zone: float = DEFAULT_DEAD_ZONE
    kind: LabelKind = "sign"
    upper: float = 2.0
    lower: float = 2.0
    vol_span: int = 100

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError(f"LabelSpec.horizon={self.horizon}: must be >= 1")
        if not 0 <= self.dead_zone < 0.5:
            raise ValueError(f"LabelSpec.dead_zone={self.dead_zone}: must be within [0, 0.5)")
        if self.kind not in ("sign", "barrier"):
            raise ValueError(f"LabelSpec.kind={self.kind!r}: 'sign' or 'barrier'")
        _check_barriers("LabelSpec", self.upper, self.lower, self.vol_span)

    def barrier_spec(self) -> BarrierSpec:
        """The triple barrier of this spec: ``horizon`` candles as the time limit, FLAT there
        (neither take-profit nor stop-loss reached: no move worth a trade)."""
        return BarrierSpec(
            horizon=self.horizon,
            upper=self.upper,
            lower=self.lower,
            vol_span=self.vol_span,
            vertical="flat",
            dead_zone=self.dead_zone,
        )

    def sign_spec(self) -> LabelSpec:
        """The sign-of-return twin: same horizon and dead zone, kind ``"sign"`` (what the
        forecasters learn whatever the kind: they forecast closes, not highs and lows)."""
        return LabelSpec(horizon=self.horizon, dead_zone=self.dead_zone)


def _check_barriers(owner: str, upper: float, lower: float, vol_span: int) -> None:
    for name, value in (("upper", upper), ("lower", lower)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{owner}.{name}={value}: must be a positive finite multiple")
    if vol_span < 2:
        raise ValueError(f"{owner}.vol_span={vol_span}: must be >= 2")


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
    """Sign-of-return class labels for a close series under ``spec``.

    A barrier spec is refused: its label needs the highs and lows (``make_dataset`` computes
    it from the candles); a caller that has closes only wants ``spec.sign_spec()``.

    >>> direction_labels(np.array([1.0, 2.0]), LabelSpec(horizon=1, kind="barrier"))
    Traceback (most recent call last):
    ...
    ValueError: direction_labels: LabelSpec.kind='barrier' needs highs and lows, not closes alone (make_dataset computes it from candles; pass spec.sign_spec() for the sign label)
    """
    if spec.kind != "sign":
        raise ValueError(
            f"direction_labels: LabelSpec.kind={spec.kind!r} needs highs and lows, not closes "
            "alone (make_dataset computes it from candles; pass spec.sign_spec() for the sign "
            "label)"
        )
    return classify_returns(forward_returns(close, spec.horizon), spec.dead_zone)
