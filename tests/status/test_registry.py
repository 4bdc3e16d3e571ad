import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.clock import SimulatedClock
from quantum_trader.status import ModuleState, StatusRegistry


def test_registry_counts_evidence_and_persists(db_engine: Engine) -> None:
    clock = SimulatedClock(1_000)
    registry = StatusRegistry(clock, SqlStatusRepository(db_engine), run_id="run1")
    xgb = registry.register("xgb", enabled=True, reason="serving production model v3")
    registry.register(
        "nhits", enabled=False, reason="AI_ENGINE_ENSEMBLE_MODELS=xgb does not include nhits"
    )
    clock.advance_to(2_000)
    xgb.count("predictions", 5)
    registry.flush()

    loaded = {s.name: s for s in SqlStatusRepository(db_engine).load_all()}
    assert loaded["xgb"].state is ModuleState.ACTIVE
    assert loaded["xgb"].counters == {"predictions": 5}
    assert loaded["xgb"].last_activity == 2_000
    assert loaded["nhits"].state is ModuleState.DISABLED
    assert loaded["nhits"].reason.startswith("disabled by config: AI_ENGINE_ENSEMBLE_MODELS")


def test_disabled_module_cannot_claim_to_be_active() -> None:
    registry = StatusRegistry(SimulatedClock(0))
    handle = registry.register(
        "drift_detection", enabled=False, reason="ENABLE_DRIFT_DETECTION=false"
    )
    with pytest.raises(ValueError, match="disabled by config"):
        handle.set_state(ModuleState.ACTIVE, "trying")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("drift_detection", enabled=True, reason="again")


def test_failure_is_recorded_with_its_cause() -> None:
    registry = StatusRegistry(SimulatedClock(0))
    handle = registry.register("xgb", enabled=True, reason="serving")
    handle.fail(FileNotFoundError("model.ubj missing"))
    assert handle.status.state is ModuleState.FAILED
    assert handle.status.reason == "FileNotFoundError: model.ubj missing"
