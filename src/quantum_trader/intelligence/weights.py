"""The weight port: how the intelligence modules act on the ensemble.

The ensemble asks a ``WeightProvider`` for one weight per member; :class:`AdaptiveWeights` is one,
built from base weights (equal by default) and a chain of :class:`WeightAdjuster` s (covariate
shift, memory states, reinforcement). Every adjuster returns normalised weights and the list of
:class:`~quantum_trader.domain.signals.WeightChange` it made, so a signal can say which module
moved which weight and by how much.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

from quantum_trader.domain.signals import WeightChange

#: changes smaller than this are not recorded (float noise from renormalising).
CHANGE_TOLERANCE = 1e-12


class WeightAdjuster(Protocol):
    """One module's say on the ensemble weights of ``symbol`` at engine time ``now``."""

    name: str

    def adjust(
        self, symbol: str, weights: Mapping[str, float], now: int
    ) -> tuple[dict[str, float], list[WeightChange]]: ...


def normalise(weights: Mapping[str, float], where: str) -> dict[str, float]:
    """Scale to a sum of 1; all-zero stays all-zero (every member abstains).

    >>> normalise({"a": 1.0, "b": 3.0}, "doc")
    {'a': 0.25, 'b': 0.75}
    """
    for model, w in weights.items():
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"{where}: weight of {model!r} is {w!r}; must be finite and >= 0")
    total = sum(weights.values())
    if total == 0:
        return dict.fromkeys(weights, 0.0)
    return {m: w / total for m, w in weights.items()}


def changes_between(
    module: str,
    before: Mapping[str, float],
    after: Mapping[str, float],
    reasons: Mapping[str, str],
) -> list[WeightChange]:
    """The WeightChanges from ``before`` to ``after`` (one per model that moved)."""
    out: list[WeightChange] = []
    for model, old in before.items():
        new = after[model]
        if abs(new - old) > CHANGE_TOLERANCE:
            reason = reasons.get(model, "renormalised after other members changed")
            out.append(WeightChange(module, model, old, new, reason))
    return out


class AdaptiveWeights:
    """Base weights passed through the enabled adjusters, in order.

    >>> AdaptiveWeights([]).weights("BTCUSDT", ["xgb", "lgbm"], now=0)
    ({'xgb': 0.5, 'lgbm': 0.5}, [])
    """

    def __init__(
        self,
        adjusters: Sequence[WeightAdjuster],
        base: Mapping[str, float] | None = None,
    ) -> None:
        self._adjusters = list(adjusters)
        self._base = dict(base) if base is not None else None

    def weights(
        self, symbol: str, models: Sequence[str], now: int
    ) -> tuple[dict[str, float], list[WeightChange]]:
        if not models:
            raise ValueError(f"AdaptiveWeights.weights({symbol!r}): no models given")
        if self._base is None:
            current = {m: 1.0 / len(models) for m in models}
        else:
            missing = [m for m in models if m not in self._base]
            if missing:
                raise ValueError(f"AdaptiveWeights: no base weight for model(s) {missing}")
            current = normalise({m: self._base[m] for m in models}, "AdaptiveWeights.base")
        changes: list[WeightChange] = []
        for adjuster in self._adjusters:
            current, made = adjuster.adjust(symbol, current, now)
            changes.extend(made)
        return current, changes
