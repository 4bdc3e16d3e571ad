"""Memory states: an EWMA of each model's recent hit rate per symbol, fed into its weight.

For every resolved outcome of (symbol, model): ``hit`` is 1 when the model's most probable class
was the realised one. The EWMA starts at the first hit and then follows
``ewma <- decay * hit + (1 - decay) * ewma`` (``decay`` = 0.3 is the weight of the newest
outcome). The module acts only once ``min_samples`` (10) outcomes are resolved for that pair:
then a member's weight is multiplied by ``ewma / mean(ewma of the mature members)`` and the
weights renormalised; members with fewer outcomes keep a neutral factor of 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quantum_trader.domain.signals import WeightChange
from quantum_trader.intelligence.ledger import Outcome
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

    def on_outcome(self, outcome: Outcome) -> None:
        self.record(outcome.symbol, outcome.model, outcome.hit)

    def record(self, symbol: str, model: str, hit: bool) -> None:
        mem = self._memory.setdefault((symbol, model), HitMemory())
        x = 1.0 if hit else 0.0
        mem.ewma = (
            x if mem.samples == 0 else self.config.decay * x + (1 - self.config.decay) * mem.ewma
        )
        mem.samples += 1
        if self._status is not None:
            self._status.count("outcomes_resolved")

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
        conf = {m: self.confidence(symbol, m) for m in weights}
        mature = [c for c in conf.values() if c is not None]
        if not mature:
            return dict(weights), []
        mean = sum(mature) / len(mature)
        if mean == 0.0:  # every mature member missed throughout: no information to rank them
            return dict(weights), []
        factors = {m: 1.0 if c is None else c / mean for m, c in conf.items()}
        after = normalise({m: w * factors[m] for m, w in weights.items()}, NAME)
        reasons = {
            m: f"hit-rate EWMA {c:.3f} vs mean {mean:.3f} (x{factors[m]:.3f})"
            for m, c in conf.items()
            if c is not None
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
