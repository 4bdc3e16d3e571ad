"""Memory states: an EWMA of each model's recent hit rate per symbol, fed into its weight.

For every resolved outcome of (symbol, model): ``hit`` is 1 when the model's most probable class
was the realised one. The EWMA starts at the first hit and then follows
``ewma <- decay * hit + (1 - decay) * ewma`` (``decay`` = 0.3 is the weight of the newest
outcome). The module acts only once ``min_samples`` (10) outcomes are resolved for that pair:
then a member's weight is multiplied by ``ewma / mean(ewma of the mature members)`` and the
weights renormalised; members with fewer outcomes keep a neutral factor of 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from quantum_trader.domain.signals import WeightChange
from quantum_trader.intelligence.ledger import ResolvedPrediction
from quantum_trader.intelligence.weights import changes_between, normalise
from quantum_trader.status.registry import ModuleHandle

NAME = "memory_states"


@dataclass(frozen=True, slots=True)
class MemoryStatesConfig:
    decay: float = 0.3
    min_samples: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.decay <= 1.0:
            raise ValueError(f"MemoryStatesConfig.decay={self.decay}: must be within (0, 1]")
        if self.min_samples < 1:
            raise ValueError(f"MemoryStatesConfig.min_samples={self.min_samples}: must be >= 1")


@dataclass(slots=True)
class HitMemory:
    ewma: float = 0.0
    samples: int = 0


class MemoryStates:
    """Per (symbol, model) hit-rate memory; a :class:`WeightAdjuster`.

    >>> m = MemoryStates(MemoryStatesConfig(decay=0.5, min_samples=2))
    >>> for hit in (1, 0):
    ...     m.record("BTCUSDT", "xgb", bool(hit))
    >>> m.confidence("BTCUSDT", "xgb")
    0.5
    """

    name = NAME

    def __init__(
        self, config: MemoryStatesConfig | None = None, status: ModuleHandle | None = None
    ) -> None:
        self.config = config or MemoryStatesConfig()
        self._status = status
        self._memory: dict[tuple[str, str], HitMemory] = {}

    def on_outcome(self, outcome: ResolvedPrediction) -> None:
        self.on_outcomes((outcome,))

    def on_outcomes(self, outcomes: Sequence[ResolvedPrediction]) -> None:
        """Learn from a batch of outcomes, in order; the counter is bumped once per batch."""
        for outcome in outcomes:
            prediction = outcome.prediction
            self._learn(prediction.symbol, prediction.model, outcome.hit)
        if self._status is not None:
            self._status.count("outcomes_resolved", len(outcomes))

    def record(self, symbol: str, model: str, hit: bool) -> None:
        self._learn(symbol, model, hit)
        if self._status is not None:
            self._status.count("outcomes_resolved")

    def _learn(self, symbol: str, model: str, hit: bool) -> None:
        mem = self._memory.get((symbol, model))
        if mem is None:
            mem = self._memory[(symbol, model)] = HitMemory()
        x = 1.0 if hit else 0.0
        mem.ewma = (
            x if mem.samples == 0 else self.config.decay * x + (1 - self.config.decay) * mem.ewma
        )
        mem.samples += 1

    def confidence(self, symbol: str, model: str) -> float | None:
        """The EWMA hit rate, or None while fewer than ``min_samples`` outcomes are resolved."""
        mem = self._memory.get((symbol, model))
        if mem is None or mem.samples < self.config.min_samples:
            return None
        return mem.ewma

    def samples(self, symbol: str, model: str) -> int:
        mem = self._memory.get((symbol, model))
        return 0 if mem is None else mem.samples

    def adjust(
        self, symbol: str, weights: Mapping[str, float], now: int
    ) -> tuple[dict[str, float], list[WeightChange]]:
        # the confidence of the mature members, in the order of ``weights``
        memory, min_samples = self._memory, self.config.min_samples
        conf: dict[str, float] = {}
        for m in weights:
            mem = memory.get((symbol, m))
            if mem is not None and mem.samples >= min_samples:
                conf[m] = mem.ewma
        if not conf:
            return dict(weights), []
        mean = sum(conf.values()) / len(conf)
        if mean == 0.0:  # every mature member missed throughout: no information to rank them
            return dict(weights), []
        factors = {m: c / mean for m, c in conf.items()}  # immature members: a factor of 1
        after = normalise({m: w * factors.get(m, 1.0) for m, w in weights.items()}, NAME)
        mean_text = f"{mean:.3f}"
        reasons = {
            m: f"hit-rate EWMA {c:.3f} vs mean {mean_text} (x{factors[m]:.3f})"
            for m, c in conf.items()
        }
        changes = changes_between(NAME, weights, after, reasons)
        if self._status is not None and changes:
            self._status.count("weight_updates")
        return after, changes

    def snapshot(self) -> list[tuple[str, str, float, int]]:
        """(symbol, model, EWMA hit rate, resolved outcomes) for every pair seen."""
        return [(s, m, mem.ewma, mem.samples) for (s, m), mem in sorted(self._memory.items())]

    # --- persistence ------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "memory": [
                [s, m, mem.ewma, mem.samples] for (s, m), mem in sorted(self._memory.items())
            ]
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._memory = {
            (str(s), str(m)): HitMemory(float(e), int(n)) for s, m, e, n in state["memory"]
        }
