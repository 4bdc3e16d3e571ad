"""The ensemble: ask every configured member, weight the votes, apply the consensus rule."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from quantum_trader.config.settings import Settings
from quantum_trader.domain.signals import ModelVote, Signal
from quantum_trader.models.ensemble.consensus import consensus
from quantum_trader.models.ensemble.member import Abstention, BatchMember, Member, VoteContext
from quantum_trader.models.ensemble.weights import EqualWeights, WeightProvider
from quantum_trader.status.registry import ModuleHandle, ModuleState


@dataclass(frozen=True, slots=True)
class EnsembleConfig:
    models: tuple[str, ...]
    min_consensus: int = 2
    threshold: float = 0.4  # a member agrees only with p(direction) >= threshold

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("EnsembleConfig.models is empty: enable at least one model")
        if not 1 <= self.min_consensus <= len(self.models):
            raise ValueError(
                f"EnsembleConfig.min_consensus={self.min_consensus}: must be between 1 and "
                f"{len(self.models)} (the enabled models {list(self.models)})"
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"EnsembleConfig.threshold={self.threshold}: must be in [0, 1]")

    @classmethod
    def from_settings(cls, settings: Settings, threshold: float = 0.4) -> EnsembleConfig:
        """AI_ENGINE_ENSEMBLE_MODELS and AI_ENGINE_MIN_CONSENSUS."""
        return cls(tuple(settings.ensemble_models), settings.min_consensus, threshold)


_Prepared = ModelVote | Abstention | None


def _input_digest(context: VoteContext) -> bytes:
    """A 128-bit digest of the context's feature row and window, bit for bit (NaNs included).

    Prepared votes keep this instead of their inputs: a replay's windows would otherwise hold
    ~1 MB per symbol-month until used. Equal digests mean equal inputs, short of a BLAKE2b
    collision."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (context.features, context.window):
        if array is None:
            digest.update(b"none")
            continue
        if array.dtype != np.float64 or not array.flags.c_contiguous:
            array = np.ascontiguousarray(array, dtype=np.float64)
        digest.update(array.shape.__repr__().encode())
        digest.update(array.data)
    return digest.digest()


@dataclass(frozen=True, slots=True)
class EnsembleDecision:
    signal: Signal
    abstentions: tuple[Abstention, ...]
    reason: str


class Ensemble:
    def __init__(
        self,
        config: EnsembleConfig,
        members: Sequence[Member],
        weights: WeightProvider | None = None,
        handle: ModuleHandle | None = None,
    ) -> None:
        names = [m.name for m in members]
        if sorted(names) != sorted(config.models):
            raise ValueError(
                f"ensemble members {names} do not match the enabled models {list(config.models)}"
            )
        self.config = config
        self._members = tuple(members)
        self._weights = weights or EqualWeights()
        self._handle = handle
        # (symbol, time) → (digest of the input the votes were computed from, one per member)
        self._prepared: dict[tuple[str, int], tuple[bytes, list[_Prepared]]] = {}

    def prepare(self, symbol: str, contexts: Sequence[VoteContext]) -> int:
        """Compute the members' votes for contexts known ahead (a replay) in batch.

        Each member that can (:class:`BatchMember`) votes on all ``contexts`` in one call. At
        decision time :meth:`decide` uses a prepared vote only when the decision's context
        equals, array for array, the one the vote was computed from; otherwise (and for
        members without a batch path) the member votes live. So a prepared vote is always the
        member's answer to the decision's own input: look-ahead cannot enter through it, and
        a batch input that differs from the streaming one costs speed, never correctness
        (``batch_inputs_mismatched`` counts it). Returns the votes prepared.
        """
        per_member = [
            member.vote_batch(symbol, contexts)
            if isinstance(member, BatchMember)
            else [None] * len(contexts)
            for member in self._members
        ]
        prepared = 0
        for i, context in enumerate(contexts):
            results = [votes[i] for votes in per_member]
            prepared += sum(r is not None for r in results)
            self._prepared[(symbol, context.time)] = (_input_digest(context), results)
        if self._handle is not None:
            self._handle.count("batch_votes_prepared", prepared)
        return prepared

    def _precomputed(self, symbol: str, context: VoteContext) -> list[_Prepared] | None:
        entry = self._prepared.pop((symbol, context.time), None)
        if entry is None:
            return None
        if entry[0] == _input_digest(context):
            return entry[1]
        if self._handle is not None:
            self._handle.count("batch_inputs_mismatched")
        return None

    def decide(self, symbol: str, context: VoteContext) -> EnsembleDecision:
        votes: list[ModelVote] = []
        abstentions: list[Abstention] = []
        prepared = self._precomputed(symbol, context) if self._prepared else None
        served = 0
        for k, member in enumerate(self._members):
            ready = prepared[k] if prepared is not None else None
            if ready is not None:
                result = ready
                served += 1
            else:
                result = member.vote(symbol, context)
            if isinstance(result, Abstention):
                abstentions.append(result)
            else:
                votes.append(result)
        weighting = self._weights.weights(symbol, [v.model for v in votes])
        given = weighting.weights
        weighted = tuple(v.weighted(float(given.get(v.model, 0.0))) for v in votes)
        outcome = consensus(weighted, self.config.min_consensus, self.config.threshold)
        reason = outcome.reason
        if abstentions:
            reason += "; abstained: " + ", ".join(f"{a.model} ({a.reason})" for a in abstentions)
        signal = Signal(
            symbol=symbol,
            time=context.time,
            direction=outcome.direction,
            probability=outcome.probability,
            confidence=outcome.confidence,
            votes=weighted,
            agreeing=outcome.agreeing,
            weight_changes=weighting.changes,
        )
        self._report(abstentions)
        if served and self._handle is not None:
            self._handle.count("batch_votes_served", served)
        return EnsembleDecision(signal, tuple(abstentions), reason)

    def _report(self, abstentions: list[Abstention]) -> None:
        handle = self._handle
        if handle is None:
            return
        handle.count("signals")
        disabled = [a for a in abstentions if a.disabled]
        if not handle.enabled:
            return
        usable = len(self._members) - len(disabled)
        if disabled:
            names = ", ".join(f"{a.model}: {a.reason}" for a in disabled)
            state = (
                ModuleState.DEGRADED if usable >= self.config.min_consensus else ModuleState.FAILED
            )
            handle.set_state(
                state,
                f"{usable} of {len(self._members)} members usable (min consensus "
                f"{self.config.min_consensus}); disabled: {names}",
            )
        elif handle.status.state is not ModuleState.ACTIVE:
            handle.set_state(ModuleState.ACTIVE, "all members usable")
