"""The port through which the intelligence modules (memory, reinforcement, covariate shift)
set member weights. The default gives every member weight 1 and records no change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from quantum_trader.domain.signals import WeightChange


@dataclass(frozen=True, slots=True)
class Weighting:
    weights: Mapping[str, float]
    changes: tuple[WeightChange, ...] = field(default=())


class WeightProvider(Protocol):
    def weights(self, symbol: str, models: Sequence[str]) -> Weighting: ...


class EqualWeights:
    """Weight 1 for every member.

    >>> EqualWeights().weights("BTCUSDT", ["xgb", "lgbm"]).weights
    {'xgb': 1.0, 'lgbm': 1.0}
    """

    def weights(self, symbol: str, models: Sequence[str]) -> Weighting:
        return Weighting({m: 1.0 for m in models})
