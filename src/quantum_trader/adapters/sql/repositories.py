"""SQL repositories for the foundation: policy versions and module status."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable

from sqlalchemy import Engine, func, insert, select

from quantum_trader.adapters.sql.tables import module_status, policy_versions
from quantum_trader.bus.policy_store import PolicyVersion
from quantum_trader.status.registry import ModuleState, ModuleStatus
from quantum_trader.status.services import ROLE_MODULE_NAMES


class SqlPolicyRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def latest(self, key: str) -> PolicyVersion | None:
        t = policy_versions
        stmt = select(t).where(t.c.key == key).order_by(t.c.version.desc()).limit(1)
        with self._engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else _policy(row)

    def append(self, record: PolicyVersion) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(policy_versions).values(
                    key=record.key,
                    version=record.version,
                    value_json=record.value_json,
                    changed_at=record.changed_at,
                    changed_by=record.changed_by,
                    reason=record.reason,
                )
            )

    def history(self, key: str) -> list[PolicyVersion]:
        t = policy_versions
        stmt = select(t).where(t.c.key == key).order_by(t.c.version)
        with self._engine.connect() as conn:
            return [_policy(r) for r in conn.execute(stmt).mappings()]

    def latest_versions(self) -> dict[str, int]:
        t = policy_versions
        stmt = select(t.c.key, func.max(t.c.version)).group_by(t.c.key)
        with self._engine.connect() as conn:
            return {k: int(v) for k, v in conn.execute(stmt)}


def _policy(row: object) -> PolicyVersion:
    r = dict(row)  # type: ignore[call-overload]
    return PolicyVersion(
        key=r["key"],
        version=int(r["version"]),
        value_json=r["value_json"],
        changed_at=int(r["changed_at"]),
        changed_by=r["changed_by"],
        reason=r["reason"],
    )


class SqlStatusRepository:
    """The module snapshot of one writer. ``names``: a service role's modules
    (``ROLE_MODULES``): its saves replace those rows only. Without: the engine's, whose saves
    replace every row but the service roles' modules (``status`` shows the latest run beside
    the roles that run apart from it)."""

    def __init__(self, engine: Engine, names: Collection[str] | None = None) -> None:
        self._engine = engine
        self._names = None if names is None else frozenset(names)

    def save(self, statuses: Iterable[ModuleStatus], at: int) -> None:
        statuses = list(statuses)
        others = [s.name for s in statuses if not self._owns(s.name)]
        if others:
            raise ValueError(f"modules {others} are not this writer's to save (ROLE_MODULES)")
        rows = [
            {
                "name": s.name,
                "run_id": s.run_id,
                "enabled": int(s.enabled),
                "state": s.state.value,
                "reason": s.reason,
                "last_heartbeat": s.last_heartbeat,
                "last_activity": s.last_activity,
                "counters_json": s.counters_json(),
                "updated_at": at,
            }
            for s in statuses
        ]
        name = module_status.c.name
        mine = name.not_in(ROLE_MODULE_NAMES) if self._names is None else name.in_(self._names)
        with self._engine.begin() as conn:
            # Replace this writer's whole snapshot: status shows one run, the latest.
            conn.execute(module_status.delete().where(mine))
            if rows:
                conn.execute(insert(module_status), rows)

    def _owns(self, name: str) -> bool:
        return name not in ROLE_MODULE_NAMES if self._names is None else name in self._names

    def load_all(self) -> list[ModuleStatus]:
        with self._engine.connect() as conn:
            rows = (
                conn.execute(select(module_status).order_by(module_status.c.name)).mappings().all()
            )
        return [
            ModuleStatus(
                name=r["name"],
                enabled=bool(r["enabled"]),
                state=ModuleState(r["state"]),
                reason=r["reason"],
                run_id=r["run_id"],
                last_heartbeat=r["last_heartbeat"],
                last_activity=r["last_activity"],
                counters=json.loads(r["counters_json"]),
            )
            for r in rows
        ]
