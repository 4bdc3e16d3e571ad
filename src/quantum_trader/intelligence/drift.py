"""Drift detection: a change detector on each (symbol, model) loss stream; one event per drift.

Every resolved outcome's log-loss feeds that pair's :class:`CusumDetector` (looking for a loss
*increase*: a model that got better needs no retraining). A detection publishes
``model.drift.detected`` with its evidence; that event is what triggers retraining. After an
event the pair is in cooldown for ``cooldown_ms`` of engine time: a detection inside it is counted
as suppressed, not published, so one drift raises one event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from quantum_trader.bus.port import EventBus
from quantum_trader.bus.topics import MODEL_DRIFT_DETECTED
from quantum_trader.bus.typed import publish_event
from quantum_trader.domain.events import DriftDetected
from quantum_trader.intelligence.detector import CusumConfig, CusumDetector, Detection
from quantum_trader.intelligence.ledger import ResolvedPrediction
from quantum_trader.status.registry import ModuleHandle

NAME = "drift_detection"
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class DriftConfig:
    detector: CusumConfig = field(default_factory=lambda: CusumConfig(direction="up"))
    cooldown_ms: int = DAY_MS

    def __post_init__(self) -> None:
        if self.cooldown_ms < 0:
            raise ValueError(f"DriftConfig.cooldown_ms={self.cooldown_ms}: must be >= 0")


class DriftMonitor:
    """Watches every member's loss stream and publishes drift events with evidence."""

    name = NAME

    def __init__(
        self,
        bus: EventBus | None,
        config: DriftConfig | None = None,
        status: ModuleHandle | None = None,
    ) -> None:
        self.config = config or DriftConfig()
        self._bus = bus
        self._status = status
        self._detectors: dict[tuple[str, str], CusumDetector] = {}
        self._last_event: dict[tuple[str, str], int] = {}

    def on_outcome(self, outcome: ResolvedPrediction) -> Detection | None:
        self._count("losses_observed")
        return self._watch(outcome)

    def on_outcomes(self, outcomes: Sequence[ResolvedPrediction]) -> None:
        """Watch a batch of outcomes, in order; the loss counter is bumped once per batch."""
        if self._status is not None:
            self._status.count("losses_observed", len(outcomes))
        for outcome in outcomes:
            self._watch(outcome)

    def _watch(self, outcome: ResolvedPrediction) -> Detection | None:
        prediction = outcome.prediction
        key = (prediction.symbol, prediction.model)
        det = self._detectors.get(key)
        if det is None:
            det = self._detectors[key] = CusumDetector(self.config.detector)
        found = det.update(outcome.loss)
        if found is None:
            return None
        now = outcome.resolved_at
        last = self._last_event.get(key)
        if last is not None and now - last < self.config.cooldown_ms:
            self._count("drifts_suppressed")
            return None
        self._last_event[key] = now
        self._count("drifts_detected")
        if self._bus is not None:
            event = DriftDetected(
                model=outcome.model,
                symbol=outcome.symbol,
                detector="cusum",
                side=found.side,
                statistic=found.statistic,
                threshold=found.threshold,
                window=found.window,
                points_since_reference=found.points_since_reference,
                reference_mean_loss=found.reference_mean,
                reference_std_loss=found.reference_std,
                time=now,
                prediction_time=outcome.prediction.prediction_time,
            )
            publish_event(self._bus, MODEL_DRIFT_DETECTED, event, source=NAME)
        return found

    def statistic(self, symbol: str, model: str) -> float | None:
        det = self._detectors.get((symbol, model))
        return None if det is None else det.statistic

    def snapshot(self) -> list[tuple[str, str, float, bool, int | None]]:
        """(symbol, model, statistic, reference fitted, last event time) per watched pair."""
        return [
            (s, m, d.statistic, d.ready, self._last_event.get((s, m)))
            for (s, m), d in sorted(self._detectors.items())
        ]

    def _count(self, counter: str) -> None:
        if self._status is not None:
            self._status.count(counter)

    # --- persistence ------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "detectors": [[s, m, d.to_state()] for (s, m), d in self._detectors.items()],
            "last_event": [[s, m, t] for (s, m), t in self._last_event.items()],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._detectors = {}
        for s, m, st in state["detectors"]:
            det = CusumDetector(self.config.detector)
            det.load_state(st)
            self._detectors[(str(s), str(m))] = det
        self._last_event = {(str(s), str(m)): int(t) for s, m, t in state["last_event"]}
