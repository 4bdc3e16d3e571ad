"""How the ensemble talks to a member: ``vote(symbol, context) -> ModelVote | Abstention``.

Members differ in what they read (a feature row for the tree models, a history window for the
forecasters), so the context carries both and each member takes what it needs. A member that
cannot vote (warm-up, disabled, broken artifact) abstains and says why; it never invents a vote.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

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
class MemberId:
    """Which member votes: the model name and the registry version it was loaded from."""

    name: str
    version: int | None  # None: not from the registry (a disabled member, a test fake)

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name} v{self.version}"


@dataclass(frozen=True, slots=True)
class Abstention:
    model: str
    reason: str
    disabled: bool = False  # True: the member is off for good (config, missing/invalid artifact)


class Member(Protocol):
    name: str

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention: ...


BatchVotes = list[ModelVote | Abstention | None]


@dataclass(frozen=True, slots=True)
class BatchWork:
    """A member's batch votes in two steps, so that the model call can run on another thread.

    ``compute`` is the model call alone: it reads only inputs prepared when the work was made
    and changes no state (no counters, no shared buffers), so a worker thread may run it while
    the replay goes on (ONNX Runtime and LightGBM release the GIL inside). ``finish`` turns its
    output into the votes and records the evidence, on the thread that uses the votes.
    """

    compute: Callable[[], Any]
    finish: Callable[[Any], BatchVotes]


@runtime_checkable
class BatchMember(Member, Protocol):
    """A member that can also vote on many contexts at once (a replay's precomputed votes).

    For ``work = batch_work(...)``, ``work.finish(work.compute())`` returns, per context,
    exactly what ``vote`` would return for it, or None where only ``vote`` can answer (the
    ensemble then asks ``vote`` at decision time).
    """

    def batch_work(self, symbol: str, contexts: Sequence[VoteContext]) -> BatchWork: ...


def no_batch_votes(n: int) -> BatchWork:
    """Work with no model call: every context is left to ``vote``."""
    return BatchWork(lambda: None, lambda _: [None] * n)


class RowModel(Protocol):
    """A model with the one-row fast path (the tabular members) and its batch form."""

    @property
    def name(self) -> str: ...

    def predict_row(self, row: FloatArray) -> FloatArray: ...

    def rows_call(self, rows: FloatArray) -> Callable[[], FloatArray]: ...

    def record_served(self, rows: int) -> None: ...


def vote_from_probs(model: str, probs: FloatArray | Sequence[float]) -> ModelVote:
    """A ModelVote from [p_down, p_flat, p_up], renormalised against float32 rounding.

    Plain float arithmetic on the three values (clip to [0, 1], sum left to right, divide):
    numpy on a 3-element array cost ~10 µs per vote, for every member and candle.

    >>> vote_from_probs("m", [0.5, 0.25, 0.25]).p_down
    0.5
    """
    values = [float(x) for x in probs]
    if len(values) != 3:
        raise ValueError(f"{model}: {len(values)} probabilities {values}; a vote needs 3")
    down, flat, up = (0.0 if v < 0.0 else 1.0 if v > 1.0 else v for v in values)  # NaN stays
    total = down + flat + up
    if not math.isfinite(total) or total <= 0:
        raise ValueError(f"{model}: probabilities {[down, flat, up]} cannot form a vote")
    return ModelVote(model, down / total, flat / total, up / total)


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

    def batch_work(self, symbol: str, contexts: Sequence[VoteContext]) -> BatchWork:
        """Votes on every complete feature row in one call of the live path's runtime, in two
        steps (see :class:`BatchWork`)."""
        n = len(contexts)
        complete = [
            i
            for i, c in enumerate(contexts)
            if c.features is not None and not np.isnan(c.features).any()
        ]
        if not complete:
            return no_batch_votes(n)
        rows = np.stack([contexts[i].features for i in complete])  # type: ignore[misc]

        def finish(probs: FloatArray) -> BatchVotes:
            self._model.record_served(len(complete))
            out: BatchVotes = [None] * n
            for i, p in zip(complete, probs.tolist(), strict=True):
                out[i] = vote_from_probs(self.name, p)
            return out

        return BatchWork(self._model.rows_call(rows), finish)


class DisabledMember:
    """A configured member that cannot run; its module shows DISABLED with the reason."""

    def __init__(self, name: str, reason: str, handle: ModuleHandle | None = None) -> None:
        self.name = name
        self.reason = reason
        if handle is not None:
            handle.set_state(ModuleState.DISABLED, reason)

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        return Abstention(self.name, self.reason, disabled=True)
