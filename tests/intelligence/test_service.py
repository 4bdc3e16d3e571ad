from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from quantum_trader.app.configs import intelligence_config
from quantum_trader.clock import SimulatedClock
from quantum_trader.config import load_settings
from quantum_trader.intelligence import (
    MODULES,
    DriftMonitor,
    Intelligence,
    MemoryStates,
    Reinforcement,
    ShiftReference,
)
from quantum_trader.intelligence.ledger import LabelSource, ResolvedPrediction
from quantum_trader.status import ModuleState, StatusRegistry
from tests.intelligence.synthetic import HOUR, Member, Replay


def test_every_module_is_active_with_evidence_after_a_short_replay() -> None:
    clock = SimulatedClock(0)
    registry = StatusRegistry(clock)
    settings = load_settings()
    intel = Intelligence(intelligence_config(settings), registry=registry)
    assert intel.covariate is not None
    rng = np.random.default_rng(0)
    intel.covariate.set_reference("xgb", ShiftReference.fit(rng.normal(size=(600, 2)), ["a", "b"]))
    replay = Replay([Member("xgb", 0.8), Member("lgbm", 0.4)], seed=3)
    changes_seen: set[str] = set()
    for step in range(60):
        clock.advance_to(step * HOUR + HOUR)
        replay.step(intel, step)
        live = rng.normal(size=(64, 2)) + (2.0 if step >= 30 else 0.0)
        intel.check_features("BTCUSDT", "xgb", live, ["a", "b"], clock.now())
        _, changes = intel.weights("BTCUSDT", ["xgb", "lgbm"], clock.now())
        changes_seen |= {c.module for c in changes}
    assert changes_seen == {"memory_states", "reinforcement", "covariate_shift"}
    for name in MODULES:
        status = registry.get(name).status
        assert status.state is ModuleState.ACTIVE, name
        assert status.counters and all(v > 0 for v in status.counters.values()), name
    assert "ENABLE_DRIFT_DETECTION=true" in registry.get("drift_detection").status.reason


def test_a_module_switched_off_says_why_and_does_nothing() -> None:
    registry = StatusRegistry(SimulatedClock(0))
    settings = load_settings(enable_reinforcement=False, enable_memory_states=False)
    intel = Intelligence(intelligence_config(settings), registry=registry)
    status = registry.get("reinforcement").status
    assert status.state is ModuleState.DISABLED
    assert "ENABLE_REINFORCEMENT=false" in status.reason
    assert intel.reinforcement is None and intel.memory is None
    assert intel.weights("BTCUSDT", ["xgb", "lgbm"], 0) == ({"xgb": 0.5, "lgbm": 0.5}, [])


class KeepingIntelligence(Intelligence):
    """Keeps every outcome its resolve handed to the modules."""

    seen: list[ResolvedPrediction]

    def resolve(
        self, now: int, labels: LabelSource, symbols: Iterable[str] | None = None
    ) -> list[ResolvedPrediction]:
        out = super().resolve(now, labels, symbols)
        self.seen.extend(out)
        return out


def test_a_batch_of_outcomes_teaches_the_same_as_one_outcome_at_a_time() -> None:
    """resolve hands each module its whole batch; the state and the counters must equal
    feeding every outcome to each module in turn."""
    clock = SimulatedClock(0)
    registry, single_registry = StatusRegistry(clock), StatusRegistry(clock)
    intel = KeepingIntelligence(registry=registry)
    intel.seen = []
    single = (
        MemoryStates(status=single_registry.register("memory_states", enabled=True, reason="")),
        Reinforcement(status=single_registry.register("reinforcement", enabled=True, reason="")),
        DriftMonitor(
            None, status=single_registry.register("drift_detection", enabled=True, reason="")
        ),
    )
    replay = Replay(
        [Member("xgb", 0.8), Member("lgbm", 0.4), Member("nhits", 0.6)],
        symbols=("BTCUSDT", "ETHUSDT"),
        seed=5,
    )
    for step in range(400):
        clock.advance_to(step * HOUR + HOUR)
        replay.step(intel, step)
    assert len(intel.seen) > 1000
    for outcome in intel.seen:
        for module in single:
            module.on_outcome(outcome)
    parts = intel.parts()
    for module in single:
        assert module.to_state() == parts[module.name].to_state(), module.name
        assert (
            single_registry.get(module.name).status.counters
            == registry.get(module.name).status.counters
        ), module.name
