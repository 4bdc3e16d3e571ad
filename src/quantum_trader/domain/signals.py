"""Model votes and the ensemble signal they make."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from quantum_trader.domain import checks
from quantum_trader.domain.errors import DomainValidationError


class Direction(StrEnum):
    """Direction of the forward return over the label horizon."""

    DOWN = "DOWN"
    FLAT = "FLAT"
    UP = "UP"


@dataclass(frozen=True, slots=True)
class ModelVote:
    """One model's class probabilities for one symbol at one time."""

    model: str
    p_down: float
    p_flat: float
    p_up: float
    weight: float = 1.0

    def __post_init__(self) -> None:
        down, flat, up, weight = self.p_down, self.p_flat, self.p_up, self.weight
        # One comparison chain for the valid case (NaN and inf fail it too); the checks
        # below name the field at fault. Votes are built for every member on every candle.
        if (
            0.0 <= down <= 1.0
            and 0.0 <= flat <= 1.0
            and 0.0 <= up <= 1.0
            and abs(down + flat + up - 1.0) <= 1e-6
            and 0.0 <= weight < math.inf
        ):
            return
        for name in ("p_down", "p_flat", "p_up"):
            checks.probability("ModelVote", name, getattr(self, name))
        total = down + flat + up
        if abs(total - 1.0) > 1e-6:
            raise DomainValidationError("ModelVote", "p_down+p_flat+p_up", total, "must sum to 1")
        checks.non_negative("ModelVote", "weight", weight)

    @property
    def direction(self) -> Direction:
        """The most probable class; on a tie the first of DOWN, FLAT, UP."""
        down, flat, up = self.p_down, self.p_flat, self.p_up
        if down >= flat and down >= up:
            return Direction.DOWN
        return Direction.FLAT if flat >= up else Direction.UP

    def weighted(self, weight: float) -> ModelVote:
        """The same vote with the ensemble's ``weight``."""
        return ModelVote(self.model, self.p_down, self.p_flat, self.p_up, weight)


@dataclass(frozen=True, slots=True)
class WeightChange:
    """Which module changed which model's weight, and by how much (for the audit of a signal)."""

    module: str
    model: str
    before: float
    after: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Signal:
    """The ensemble's verdict for a symbol at ``time`` (epoch ms).

    ``direction`` is FLAT whenever consensus was not reached; ``votes`` keeps every model's vote.
    """

    symbol: str
    time: int
    direction: Direction
    probability: float
    confidence: float
    votes: tuple[ModelVote, ...]
    agreeing: int = 0
    weight_changes: tuple[WeightChange, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.symbol and 0.0 <= self.probability <= 1.0 and 0.0 <= self.confidence <= 1.0:
            return  # valid (NaN fails the comparisons); the checks below name the fault
        checks.non_empty("Signal", "symbol", self.symbol)
        checks.probability("Signal", "probability", self.probability)
        checks.probability("Signal", "confidence", self.confidence)
