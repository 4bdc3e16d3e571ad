from __future__ import annotations

import math

import numpy as np

from quantum_trader.bus import InProcessBus
from quantum_trader.bus.topics import MODEL_DRIFT_DETECTED
from quantum_trader.bus.typed import subscribe_records
from quantum_trader.clock import SimulatedClock
from quantum_trader.domain.events import DriftDetected
from quantum_trader.intelligence import CusumConfig, CusumDetector, DriftConfig, DriftMonitor
from quantum_trader.intelligence.ledger import Prediction, ResolvedPrediction
from quantum_trader.status import StatusRegistry

HOUR = 3_600_000


def outcome_with_loss(loss: float, step: int) -> ResolvedPrediction:
    """An UP outcome whose member gave the realised class probability exp(-loss)."""
    p_up = math.exp(-loss)
    rest = (1 - p_up) / 2
    pred = Prediction("BTCUSDT", "xgb", (rest, rest, p_up), step * HOUR, (step + 5) * HOUR)
    return ResolvedPrediction(pred, 2, (step + 5) * HOUR)


def loss_stream(changes: list[int], n: int, seed: int = 3) -> list[float]:
    """Log-losses around 0.9 that step up by 0.3 (about 2 sigma) at each change point."""
    rng = np.random.default_rng(seed)
    level = np.full(n, 0.9)
    for c in changes:
        level[c:] += 0.3
    return list(np.clip(level + rng.normal(0, 0.15, n), 0.01, 5.0))


def run(monitor: DriftMonitor, losses: list[float]) -> None:
    for step, loss in enumerate(losses):
        monitor.on_outcome(outcome_with_loss(loss, step))


def drift_events(
    cooldown_ms: int, losses: list[float]
) -> tuple[list[DriftDetected], dict[str, int]]:
    clock = SimulatedClock(0)
    bus = InProcessBus(clock)
    events: list[DriftDetected] = []
    subscribe_records(bus, MODEL_DRIFT_DETECTED, events.append)
    registry = StatusRegistry(clock)
    handle = registry.register("drift_detection", enabled=True, reason="test")
    run(DriftMonitor(bus, DriftConfig(cooldown_ms=cooldown_ms), handle), losses)
    return events, handle.status.counters


def test_one_drift_raises_one_event_with_evidence() -> None:
    losses = loss_stream([600], 1500)
    events, counters = drift_events(cooldown_ms=30 * 24 * HOUR, losses=losses)
    assert len(events) == 1
    drift = events[0]
    assert drift.model == "xgb" and drift.symbol == "BTCUSDT"
    assert drift.side == "mean_up"
    assert drift.statistic > drift.threshold
    assert drift.window == 200 + drift.points_since_reference
    detected_step = drift.prediction_time // HOUR
    assert 600 <= detected_step < 650  # found within 50 outcomes of the change, not before
    assert drift.time == (detected_step + 5) * HOUR
    assert counters["drifts_detected"] == 1 and counters["losses_observed"] == 1500


def test_cooldown_suppresses_a_second_detection_inside_it() -> None:
    losses = loss_stream([400, 700], 1200)  # the second step comes 300 outcomes later
    events, counters = drift_events(cooldown_ms=30 * 24 * HOUR, losses=losses)
    assert len(events) == 1 and counters["drifts_suppressed"] == 1
    events, counters = drift_events(cooldown_ms=0, losses=losses)
    assert len(events) == 2 and "drifts_suppressed" not in counters


def test_detector_state_round_trip_continues_identically() -> None:
    rng = np.random.default_rng(5)
    xs = list(np.r_[rng.normal(0, 1, 400), rng.normal(1, 1, 200)])
    whole = CusumDetector(CusumConfig())
    full = [i for i, x in enumerate(xs) if whole.update(float(x))]
    first = CusumDetector(CusumConfig())
    head = [i for i, x in enumerate(xs[:300]) if first.update(float(x))]
    second = CusumDetector(CusumConfig())
    second.load_state(first.to_state())
    tail = [i + 300 for i, x in enumerate(xs[300:]) if second.update(float(x))]
    assert head + tail == full and full and full[0] >= 400
    assert second.to_state() == whole.to_state()
