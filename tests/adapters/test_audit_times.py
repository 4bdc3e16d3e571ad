"""Audit rows keep both times: the engine's (a replay's candle time) and the wall clock's when
they were stored, and who made them, on SQLite and PostgreSQL; rows stored before those columns
read back as None (issue 22 Part A item 6)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text

from quantum_trader.adapters.sql.database import (
    alembic_config,
    create_db_engine,
    migrate,
    normalise_url,
)
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.policy import RiskMode
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.models.base import ModelMetadata
from quantum_trader.risk.state import TradingState, TradingStateChange
from quantum_trader.strategy.risk_modes import ModeChange

REPLAYED = 1_718_114_400_000  # 2024-06-11T14:00Z: a replayed candle
WALL = 1_796_000_000_000  # 2026-11-30: when the row was really written
KEY = ModelKey("xgb", "BTCUSDT", 4)


def _meta() -> ModelMetadata:
    return ModelMetadata("xgb", "a", "BTCUSDT", 4, ("ret_1",), {}, (0, 3_600_000), "d")


def _state(by: str) -> TradingStateChange:
    return TradingStateChange(
        REPLAYED, TradingState.ACTIVE, TradingState.REDUCING, "drawdown 11%", by, False
    )


def test_registry_and_risk_rows_record_engine_and_wall_time(db_engine: Engine) -> None:
    registry = ModelRegistry(
        SqlRegistryRepository(db_engine, wall=lambda: WALL), SimulatedClock(REPLAYED)
    )
    v = registry.register(_meta(), "f" * 64, actor="engine:run1", reason="bootstrap")
    registry.promote(KEY, v.version, actor="engine:run1", reason="first", to=Stage.PRODUCTION)
    trail = SqlRegistryRepository(db_engine).history(KEY)
    assert [(c.at, c.recorded_at, c.actor) for c in trail] == [
        (REPLAYED, WALL, "engine:run1"),
        (REPLAYED, WALL, "engine:run1"),
    ]

    risk = SqlRiskRepository(db_engine, wall=lambda: WALL, actor="engine:run1")
    risk.record_state_change(_state("engine:run1"))
    risk.record_mode_change(
        ModeChange(REPLAYED, None, RiskMode.CONSERVATIVE, ("drawdown",), {"drawdown": 0.11}, 2)
    )
    latest = SqlRiskRepository(db_engine).latest_state_recorded()
    assert latest is not None and latest == (_state("engine:run1"), WALL)
    mode = SqlRiskRepository(db_engine).latest_mode_change()
    assert mode is not None and (mode.at, mode.recorded_at, mode.by) == (
        REPLAYED,
        WALL,
        "engine:run1",
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def old_schema(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database migrated only to the revisions before audit_0001."""
    if request.param == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
        yield engine
        engine.dispose()
        return
    url: str = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(url))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_db_engine(url, schema=schema)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_rows_written_before_the_migration_read_back_without_a_wall_time(
    old_schema: Engine,
) -> None:
    config = alembic_config(old_schema)
    command.upgrade(config, "registry_0001")
    command.upgrade(config, "risk_0003")
    with old_schema.begin() as conn:  # rows as the code before audit_0001 wrote them
        conn.execute(
            text(
                "INSERT INTO model_stage_changes (model, scope, horizon, version, from_stage, "
                "to_stage, action, at, actor, reason) VALUES ('xgb', 'BTCUSDT', 4, 1, NULL, "
                "'CANDIDATE', 'REGISTER', :at, 'rule:bootstrap', 'old')"
            ),
            {"at": REPLAYED},
        )
        conn.execute(
            text(
                "INSERT INTO risk_trading_state (at, previous, state, reason, changed_by, "
                "halt_latched) VALUES (:at, 'ACTIVE', 'REDUCING', 'old', 'risk_safety', 0)"
            ),
            {"at": REPLAYED},
        )
        conn.execute(
            text(
                "INSERT INTO risk_mode_changes (at, previous, mode, reasons_json, health_json, "
                "policy_version) VALUES (:at, NULL, 'MODERATE', '[\"old\"]', '{}', 1)"
            ),
            {"at": REPLAYED},
        )
    migrate(old_schema)  # audit_0001 and audit_0002, on data
    old = SqlRegistryRepository(old_schema).history(KEY)
    assert [(c.actor, c.recorded_at) for c in old] == [("rule:bootstrap", None)]
    latest = SqlRiskRepository(old_schema).latest_state_recorded()
    assert latest is not None and latest[1] is None and latest[0].by == "risk_safety"
    SqlRiskRepository(old_schema, wall=lambda: WALL).record_state_change(_state("engine:r2"))
    latest = SqlRiskRepository(old_schema).latest_state_recorded()
    assert latest is not None and latest == (_state("engine:r2"), WALL)
    mode = SqlRiskRepository(old_schema).latest_mode_change()
    assert mode is not None and mode.reasons == ("old",)
    assert (mode.recorded_at, mode.by) == (None, None)
