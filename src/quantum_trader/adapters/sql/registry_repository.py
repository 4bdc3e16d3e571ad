"""SQL storage of the model registry (SQLite and PostgreSQL, same schema).

``metadata_json`` holds each version's :class:`~quantum_trader.learning.lineage.Lineage` (rows
written before lineage existed hold a ModelMetadata's JSON, which reads as a "model" lineage):
a new kind of artifact needs no new column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update

from quantum_trader.adapters.sql.tables_registry import (
    model_production,
    model_stage_changes,
    model_versions,
)
from quantum_trader.clock.clock import WallClock
from quantum_trader.learning.lineage import Lineage
from quantum_trader.learning.registry import Action, ModelKey, ModelVersion, Stage, StageChange


def _key_filter(table: Any, key: ModelKey) -> Any:
    return and_(
        table.c.model == key.model, table.c.scope == key.scope, table.c.horizon == key.horizon
    )


class SqlRegistryRepository:
    """``wall``: the wall clock each audit row's ``recorded_at`` is read from (ms)."""

    def __init__(self, engine: Engine, wall: Callable[[], int] | None = None) -> None:
        self._engine = engine
        self._wall = wall or WallClock().now

    def next_version(self, key: ModelKey) -> int:
        stmt = select(func.max(model_versions.c.version)).where(_key_filter(model_versions, key))
        with self._engine.connect() as conn:
            current = conn.execute(stmt).scalar()
        return 1 if current is None else int(current) + 1

    def add_version(self, version: ModelVersion, change: StageChange) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(model_versions).values(
                    model=version.key.model,
                    scope=version.key.scope,
                    horizon=version.key.horizon,
                    version=version.version,
                    stage=version.stage.value,
                    artifact_hash=version.artifact_hash,
                    metadata_json=version.lineage.to_json(),
                    created_at=version.created_at,
                )
            )
            _insert_change(conn, change, self._wall())

    def apply(
        self, changes: Sequence[StageChange], pointer: tuple[ModelKey, int | None] | None
    ) -> None:
        with self._engine.begin() as conn:  # one transaction: all or nothing
            for change in changes:
                conn.execute(
                    update(model_versions)
                    .where(_key_filter(model_versions, change.key))
                    .where(model_versions.c.version == change.version)
                    .values(stage=change.to_stage.value)
                )
                _insert_change(conn, change, self._wall())
            if pointer is not None:
                key, number = pointer
                at = changes[-1].at if changes else 0
                where = _key_filter(model_production, key)
                found = conn.execute(select(model_production.c.version).where(where)).first()
                if found is None:
                    conn.execute(
                        insert(model_production).values(
                            model=key.model,
                            scope=key.scope,
                            horizon=key.horizon,
                            version=number,
                            updated_at=at,
                        )
                    )
                else:
                    conn.execute(
                        update(model_production).where(where).values(version=number, updated_at=at)
                    )

    def get(self, key: ModelKey, version: int) -> ModelVersion | None:
        stmt = (
            select(model_versions)
            .where(_key_filter(model_versions, key))
            .where(model_versions.c.version == version)
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else _version(row)

    def versions(self, key: ModelKey | None = None) -> list[ModelVersion]:
        t = model_versions
        stmt = select(t).order_by(t.c.model, t.c.scope, t.c.horizon, t.c.version)
        if key is not None:
            stmt = stmt.where(_key_filter(t, key))
        with self._engine.connect() as conn:
            return [_version(r) for r in conn.execute(stmt).mappings()]

    def production_version(self, key: ModelKey) -> int | None:
        stmt = select(model_production.c.version).where(_key_filter(model_production, key))
        with self._engine.connect() as conn:
            value = conn.execute(stmt).scalar()
        return None if value is None else int(value)

    def history(self, key: ModelKey) -> list[StageChange]:
        t = model_stage_changes
        stmt = select(t).where(_key_filter(t, key)).order_by(t.c.id)
        with self._engine.connect() as conn:
            return [_change(r) for r in conn.execute(stmt).mappings()]

    def recent_changes(self, limit: int, actor_prefix: str = "") -> list[StageChange]:
        """The newest ``limit`` audit rows of every line (newest first), of actors whose name
        starts with ``actor_prefix`` (``rule:``: the rules' own decisions)."""
        t = model_stage_changes
        stmt = select(t).order_by(t.c.id.desc()).limit(limit)
        if actor_prefix:
            stmt = stmt.where(t.c.actor.startswith(actor_prefix, autoescape=True))
        with self._engine.connect() as conn:
            return [_change(r) for r in conn.execute(stmt).mappings()]

    def changes_after(self, cursor: int) -> list[tuple[int, StageChange]]:
        """The audit rows' ids are the cursor: they only grow, one per change."""
        t = model_stage_changes
        stmt = select(t).where(t.c.id > cursor).order_by(t.c.id)
        with self._engine.connect() as conn:
            return [(int(r["id"]), _change(r)) for r in conn.execute(stmt).mappings()]


def _insert_change(conn: Connection, change: StageChange, recorded_at: int) -> None:
    conn.execute(
        insert(model_stage_changes).values(
            model=change.key.model,
            scope=change.key.scope,
            horizon=change.key.horizon,
            version=change.version,
            from_stage=None if change.from_stage is None else change.from_stage.value,
            to_stage=change.to_stage.value,
            action=change.action.value,
            at=change.at,
            actor=change.actor,
            reason=change.reason,
            recorded_at=recorded_at,
        )
    )


def _change(row: Any) -> StageChange:
    return StageChange(
        key=ModelKey(row["model"], row["scope"], int(row["horizon"])),
        version=int(row["version"]),
        from_stage=None if row["from_stage"] is None else Stage(row["from_stage"]),
        to_stage=Stage(row["to_stage"]),
        at=int(row["at"]),
        actor=row["actor"],
        reason=row["reason"],
        action=Action(row["action"]),
        recorded_at=None if row["recorded_at"] is None else int(row["recorded_at"]),
    )


def _version(row: Any) -> ModelVersion:
    return ModelVersion(
        key=ModelKey(row["model"], row["scope"], int(row["horizon"])),
        version=int(row["version"]),
        stage=Stage(row["stage"]),
        artifact_hash=row["artifact_hash"],
        lineage=Lineage.from_json(row["metadata_json"]),
        created_at=int(row["created_at"]),
    )
