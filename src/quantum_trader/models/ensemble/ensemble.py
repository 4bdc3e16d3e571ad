"""The ensemble: ask every configured member, weight the votes, apply the consensus rule."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from quantum_trader.config.settings import Settings
from quantum_trader.domain.signals import ModelVote, Signal
from quantum_trader.models.ensemble.consensus import consensus
from quantum_trader.models.ensemble.member import Abstention, Member, VoteContext
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

    def decide(self, symbol: str, context: VoteContext) -> EnsembleDecision:
        votes: list[ModelVote] = []
        abstentions: list[Abstention] = []
        for member in self._members:
            result = member.vote(symbol, context)
            if isinstance(result, Abstention):
                abstentions.append(result)
            else:
                votes.append(result)
        weighting = self._weights.weights(symbol, [v.model for v in votes])
        weighted = tuple(
            dataclasses.replace(v, weight=float(weighting.weights.get(v.model, 0.0))) for v in votes
        )
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
