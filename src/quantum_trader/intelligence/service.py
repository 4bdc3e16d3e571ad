"""The four adaptive modules wired together: what the engine and the ensemble talk to.

The engine calls :meth:`Intelligence.observe` with each member's vote, :meth:`resolve` on every
clock step (outcomes flow to memory, reinforcement and drift), :meth:`check_features` with live
feature windows, and asks :meth:`weights` for the ensemble's weights (the weight port).
:meth:`save` / :meth:`restore` persist everything learned, so a restart forgets nothing.
Each module is registered in the status registry, switched by its ``ENABLE_*`` variable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from quantum_trader.bus.port import EventBus
from quantum_trader.domain.signals import WeightChange
from quantum_trader.intelligence.covariate_shift import (
    CovariateShiftConfig,
    CovariateShiftMonitor,
    ShiftReport,
)
from quantum_trader.intelligence.drift import DriftConfig, DriftMonitor
from quantum_trader.intelligence.ledger import LabelSource, PredictionLedger, ResolvedPrediction
from quantum_trader.intelligence.memory_states import MemoryStates, MemoryStatesConfig
from quantum_trader.intelligence.reinforcement import Reinforcement, ReinforcementConfig
from quantum_trader.intelligence.shift_stats import FloatArray
from quantum_trader.intelligence.state import (
    Stateful,
    StateRepository,
    restore_state,
    save_state,
)
from quantum_trader.intelligence.weights import AdaptiveWeights, WeightAdjuster
from quantum_trader.status.registry import ModuleHandle, StatusRegistry


class OutcomeLearner(Protocol):
    """A module that learns from resolved outcomes (memory, reinforcement, drift)."""

    def on_outcomes(self, outcomes: Sequence[ResolvedPrediction]) -> None: ...


MODULES = ("memory_states", "reinforcement", "drift_detection", "covariate_shift")

#: why each module is running, for the status table.
PURPOSE = {
    "memory_states": "EWMA hit rate per (symbol, model) feeds member confidence",
    "reinforcement": "discounted Hedge learns ensemble weights from realised outcomes",
    "drift_detection": "CUSUM on each member's loss stream publishes model.drift.detected",
    "covariate_shift": "PSI/KS/energy distance vs training reference; down-weights on shift",
}


@dataclass(frozen=True, slots=True)
class IntelligenceConfig:
    enabled: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(MODULES, True))
    reasons: dict[str, str] = field(default_factory=dict)
    memory: MemoryStatesConfig = field(default_factory=MemoryStatesConfig)
    reinforcement: ReinforcementConfig = field(default_factory=ReinforcementConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    covariate: CovariateShiftConfig = field(default_factory=CovariateShiftConfig)
    state_prefix: str = "intelligence"

    def __post_init__(self) -> None:
        unknown = set(self.enabled) - set(MODULES)
        if unknown:
            raise ValueError(
                f"IntelligenceConfig.enabled names unknown module(s) {sorted(unknown)}"
            )

    def is_on(self, module: str) -> bool:
        return self.enabled.get(module, True)


class Intelligence:
    """Ledger + memory states + reinforcement + drift + covariate shift."""

    def __init__(
        self,
        config: IntelligenceConfig | None = None,
        *,
        bus: EventBus | None = None,
        registry: StatusRegistry | None = None,
        repository: StateRepository | None = None,
    ) -> None:
        self.config = cfg = config or IntelligenceConfig()
        self._repository = repository
        handles = {m: self._register(registry, m) for m in MODULES}
        self.ledger = PredictionLedger()
        self.memory = (
            MemoryStates(cfg.memory, handles["memory_states"])
            if cfg.is_on("memory_states")
            else None
        )
        self.reinforcement = (
            Reinforcement(cfg.reinforcement, handles["reinforcement"])
            if cfg.is_on("reinforcement")
            else None
        )
        self.drift = (
            DriftMonitor(bus, cfg.drift, handles["drift_detection"])
            if cfg.is_on("drift_detection")
            else None
        )
        self.covariate = (
            CovariateShiftMonitor(bus, cfg.covariate, handles["covariate_shift"])
            if cfg.is_on("covariate_shift")
            else None
        )
        # order matters: a shifted member is cut first, then scaled by memory and reinforcement
        adjusters: list[WeightAdjuster] = [
            a for a in (self.covariate, self.memory, self.reinforcement) if a is not None
        ]
        self._weights = AdaptiveWeights(adjusters)
        self._learners: list[OutcomeLearner] = [
            m for m in (self.memory, self.reinforcement, self.drift) if m is not None
        ]

    def _register(self, registry: StatusRegistry | None, module: str) -> ModuleHandle | None:
        if registry is None:
            return None
        on = self.config.is_on(module)
        reason = self.config.reasons.get(module, "enabled" if on else "disabled")
        return registry.register(
            module, enabled=on, reason=f"{PURPOSE[module]} ({reason})" if on else reason
        )

    # --- the engine's calls -------------------------------------------------------------
    def observe(
        self,
        symbol: str,
        model: str,
        probs: tuple[float, float, float],
        prediction_time: int,
        horizon_end: int,
    ) -> None:
        self.ledger.observe(symbol, model, probs, prediction_time, horizon_end)

    def resolve(
        self, now: int, labels: LabelSource, symbols: Iterable[str] | None = None
    ) -> list[ResolvedPrediction]:
        """Resolve what is due (see :meth:`PredictionLedger.resolve`) and feed the modules."""
        outcomes = self.ledger.resolve(now, labels, symbols)
        if outcomes:
            # module by module: each learns only from its own state, so this equals feeding
            # every outcome to all three in turn, with one counter bump per module and batch
            for learner in self._learners:
                learner.on_outcomes(outcomes)
        return outcomes

    def check_features(
        self, symbol: str, model: str, live: FloatArray, features: Sequence[str], now: int
    ) -> ShiftReport | None:
        reports = self.check_features_of(symbol, (model,), live, features, now)
        return reports[0] if reports else None

    def check_features_of(
        self,
        symbol: str,
        models: Sequence[str],
        live: FloatArray,
        features: Sequence[str],
        now: int,
    ) -> list[ShiftReport]:
        """:meth:`check_features` of several models on one live window, validated once."""
        if self.covariate is None:
            return []
        return self.covariate.check_models(symbol, models, live, features, now)

    def weights(
        self, symbol: str, models: Sequence[str], now: int
    ) -> tuple[dict[str, float], list[WeightChange]]:
        return self._weights.weights(symbol, models, now)

    # --- persistence --------------------------------------------------------------------
    def parts(self) -> dict[str, Stateful]:
        """Every stateful part by its state key: the ledger and the enabled modules."""
        parts: dict[str, Stateful] = {"ledger": self.ledger}
        for name, part in (
            ("memory_states", self.memory),
            ("reinforcement", self.reinforcement),
            ("drift_detection", self.drift),
            ("covariate_shift", self.covariate),
        ):
            if part is not None:
                parts[name] = part
        return parts

    def save(self, now: int) -> None:
        repo = self._need_repository("save")
        for name, part in self.parts().items():
            save_state(repo, f"{self.config.state_prefix}/{name}", part, now)

    def restore(self) -> list[str]:
        """Load every saved part; returns the names restored (empty on a first start)."""
        repo = self._need_repository("restore")
        return [
            name
            for name, part in self.parts().items()
            if restore_state(repo, f"{self.config.state_prefix}/{name}", part)
        ]

    def _need_repository(self, what: str) -> StateRepository:
        if self._repository is None:
            raise RuntimeError(f"Intelligence.{what}: no state repository was given")
        return self._repository
