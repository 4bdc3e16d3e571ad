"""How the ensemble talks to a member: ``vote(symbol, context) -> ModelVote | Abstention``.

Members differ in what they read (a feature row for the tree models, a history window for the
forecasters), so the context carries both and each member takes what it needs. A member that
cannot vote (warm-up, disabled, broken artifact) abstains and says why; it never invents a vote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from quantum_trader.domain.signals import ModelVote
from quantum_trader.models.base import FloatArray
from quantum_trader.status.registry import ModuleHandle, ModuleState


@dataclass(frozen=True, slots=True)
class VoteContext:
    """What a member may read at decision time ``time`` (epoch ms, the candle's close)."""

    time: int
    features: FloatArray | None = None  # one feature row (tabular members)
    window: FloatArray | None = None  # a history window (forecasting members)


@dataclass(frozen=True, slots=True)
class Abstention:
    model: str
    reason: str
    disabled: bool = False  # True: the member is off for good (config, missing/invalid artifact)


class Member(Protocol):
    name: str

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention: ...


class RowModel(Protocol):
    """A model with the one-row fast path (the tabular members)."""

    @property
    def name(self) -> str: ...

    def predict_row(self, row: FloatArray) -> FloatArray: ...


def vote_from_probs(model: str, probs: FloatArray) -> ModelVote:
    """A ModelVote from [p_down, p_flat, p_up], renormalised against float32 rounding."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    total = float(p.sum())
    if not np.isfinite(total) or total <= 0:
        raise ValueError(f"{model}: probabilities {p.tolist()} cannot form a vote")
    p = p / total
    return ModelVote(model=model, p_down=float(p[0]), p_flat=float(p[1]), p_up=float(p[2]))


class TabularMember:
    """A tree model voting on the context's feature row."""

    def __init__(self, model: RowModel) -> None:
        self.name = model.name
        self._model = model

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        row = context.features
        if row is None:
            return Abstention(self.name, "no feature row in the context")
        if np.isnan(row).any():
            return Abstention(self.name, "features not ready (warm-up)")
        return vote_from_probs(self.name, self._model.predict_row(row))


class DisabledMember:
    """A configured member that cannot run; its module shows DISABLED with the reason."""

    def __init__(self, name: str, reason: str, handle: ModuleHandle | None = None) -> None:
        self.name = name
        self.reason = reason
        if handle is not None:
            handle.set_state(ModuleState.DISABLED, reason)

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        return Abstention(self.name, self.reason, disabled=True)
