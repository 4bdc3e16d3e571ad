"""What the model-registry routes read and change: a line's history, promote, rollback, the
agents' policies.

Stage changes go through the registry itself (``learning/registry.ModelRegistry``, as
``quantum-trader models promote|rollback`` does): it checks the transition, retires the
replaced production version and moves the production pointer in one transaction, and writes
the audit rows a running engine reads (``changes_after``) to follow a promotion or rollback.
"""

from __future__ import annotations

import math

from sqlalchemy import Engine, RowMapping, select

from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.tables_registry import model_production, model_versions
from quantum_trader.api.schemas import ModelVersionOut
from quantum_trader.api.schemas_models import ModelHistoryOut, PolicyVersionOut, StageChangeOut
from quantum_trader.clock.clock import Clock
from quantum_trader.learning.lineage import POLICY_KIND, Lineage
from quantum_trader.learning.registry import (
    ModelKey,
    ModelRegistry,
    ModelVersion,
    Stage,
    StageChange,
)


class UnknownLine(LookupError):
    """The registry has no version of the line (or no such version of a known line)."""


def registry(engine: Engine, clock: Clock) -> ModelRegistry:
    """The registry over the database, its changes stamped with the API's clock."""
    return ModelRegistry(SqlRegistryRepository(engine), clock)


def require_line(engine: Engine, key: ModelKey) -> None:
    """Raise :class:`UnknownLine`, naming the model's known lines, unless ``key`` has a
    version in the registry."""
    t = model_versions
    stmt = (
        select(t.c.scope, t.c.horizon)
        .where(t.c.model == key.model)
        .group_by(t.c.scope, t.c.horizon)
        .order_by(t.c.scope, t.c.horizon)
    )
    with engine.connect() as conn:
        lines = [ModelKey(key.model, scope, int(horizon)) for scope, horizon in conn.execute(stmt)]
    if key in lines:
        return
    if lines:
        known = f"the lines of {key.model!r}: {', '.join(str(line) for line in lines)}"
    else:
        known = f"it has no line of model {key.model!r}"
    raise UnknownLine(f"no model line {key} in the registry ({known})")


def history(engine: Engine, clock: Clock, key: ModelKey) -> ModelHistoryOut:
    """A line's versions and its whole audit trail, oldest first (``models history``)."""
    require_line(engine, key)
    reg = registry(engine, clock)
    production = reg.production(key)
    return ModelHistoryOut(
        key=str(key),
        production=None if production is None else production.version,
        versions=[version_out(v) for v in reg.versions(key)],
        changes=[change_out(c) for c in reg.history(key)],
    )


def change_out(change: StageChange) -> StageChangeOut:
    """One audited registry change as the routes answer it."""
    return StageChangeOut(
        version=change.version,
        from_stage=None if change.from_stage is None else change.from_stage.value,
        to_stage=change.to_stage.value,
        action=change.action.value,
        at=change.at,
        recorded_at=change.recorded_at,
        actor=change.actor,
        reason=change.reason,
    )


def promote(
    engine: Engine,
    clock: Clock,
    key: ModelKey,
    version: int,
    *,
    to: Stage | None,
    actor: str,
    reason: str,
) -> ModelVersionOut:
    """Move ``version`` forward (to the next stage unless ``to`` says which), audited under
    ``actor``; :class:`UnknownLine` for an unknown line or version, and the registry's
    ``InvalidTransitionError`` for a move it refuses."""
    require_line(engine, key)
    try:
        moved = registry(engine, clock).promote(key, version, actor=actor, reason=reason, to=to)
    except KeyError as exc:  # the registry's "has no version N"
        raise UnknownLine(exc.args[0]) from exc
    return version_out(moved)


def rollback(
    engine: Engine, clock: Clock, key: ModelKey, *, actor: str, reason: str
) -> ModelVersionOut:
    """Retire the line's production version and restore the one before it, audited under
    ``actor``; the version restored. ``InvalidTransitionError`` when there is none."""
    require_line(engine, key)
    return version_out(registry(engine, clock).rollback(key, actor=actor, reason=reason))


def policies(engine: Engine, limit: int) -> list[PolicyVersionOut]:
    """The agents' policy versions (registry versions of lineage kind ``"policy"``, e.g. the
    ``ppo_selector/BTCUSDT/h0`` line of ``learning/policies.py``), newest first, at most
    ``limit``.

    The kind is in each version's lineage JSON, which no index reaches: the versions are read
    newest first and only until ``limit`` policies are found.
    """
    t = model_versions
    newest_first = select(t).order_by(t.c.created_at.desc(), t.c.id.desc())
    found: list[tuple[RowMapping, Lineage]] = []
    with engine.connect() as conn:
        for row in conn.execute(newest_first).mappings():
            lineage = Lineage.from_json(row["metadata_json"])
            if lineage.kind == POLICY_KIND:
                found.append((row, lineage))
                if len(found) == limit:
                    break
        p = model_production
        in_production = {
            (m, s, int(h), int(v))
            for m, s, h, v in conn.execute(
                select(p.c.model, p.c.scope, p.c.horizon, p.c.version).where(
                    p.c.version.is_not(None)
                )
            )
        }
    return [_policy_out(row, lineage, in_production) for row, lineage in found]


def _policy_out(
    row: RowMapping, lineage: Lineage, in_production: set[tuple[str, str, int, int]]
) -> PolicyVersionOut:
    key = ModelKey(row["model"], row["scope"], int(row["horizon"]))
    version = int(row["version"])
    algorithm = lineage.detail.get("algorithm")
    return PolicyVersionOut(
        key=str(key),
        name=key.model,
        scope=key.scope,
        version=version,
        stage=row["stage"],
        production=(key.model, key.scope, key.horizon, version) in in_production,
        algorithm=None if algorithm is None else str(algorithm),
        artifact_hash=row["artifact_hash"],
        created_at=int(row["created_at"]),
        trained_at=lineage.trained_at,
        metrics={name: _finite_or_none(value) for name, value in lineage.metrics.items()},
    )


def version_out(v: ModelVersion) -> ModelVersionOut:
    return ModelVersionOut(
        key=str(v.key),
        version=v.version,
        stage=v.stage.value,
        artifact_hash=v.artifact_hash,
        created_at=v.created_at,
    )


def _finite_or_none(value: object) -> float | None:
    """A metric as JSON can carry it: NaN and infinities (no JSON number) become None."""
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None
