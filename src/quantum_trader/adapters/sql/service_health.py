"""The processes serving a database and their heartbeats (``status/services.py``) in the
table ``service_processes``."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Engine, delete, insert, select, update

from quantum_trader.adapters.sql.tables_services import service_processes as t
from quantum_trader.status.services import DOWN_AFTER_PERIODS, ServiceProcess

#: rows kept per role: the newest processes (a started process never removes a running one's)
KEEP_PER_ROLE = 20


class SqlServiceHealth:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def start(self, process: ServiceProcess) -> None:
        """Record ``process``, and forget the role's processes beyond the newest
        ``KEEP_PER_ROLE`` that have stopped or stopped beating."""
        with self._engine.begin() as conn:
            conn.execute(
                insert(t).values(
                    process_id=process.process_id, role=process.role, host=process.host,
                    pid=process.pid, run_id=process.run_id, period_ms=process.period_ms,
                    started_at=process.started_at, beat_at=process.beat_at,
                    stopped_at=process.stopped_at, modules_json=process.modules_json(),
                )
            )  # fmt: skip
            old = (
                select(t.c.process_id, t.c.stopped_at, t.c.beat_at, t.c.period_ms)
                .where(t.c.role == process.role)
                .order_by(t.c.started_at.desc())
                .offset(KEEP_PER_ROLE)
            )
            gone = [
                r.process_id
                for r in conn.execute(old)
                if r.stopped_at is not None
                or process.beat_at - r.beat_at > DOWN_AFTER_PERIODS * r.period_ms
            ]
            if gone:
                conn.execute(delete(t).where(t.c.process_id.in_(gone)))

    def beat(self, process_id: str, at: int, modules: Sequence[str] | None = None) -> bool:
        """Record a beat at wall time ``at`` (and the modules it reports now, if given);
        False when the process has no row (it was never started here)."""
        values: dict[str, object] = {"beat_at": at}
        if modules is not None:
            values["modules_json"] = json.dumps(list(modules))
        with self._engine.begin() as conn:
            done = conn.execute(update(t).where(t.c.process_id == process_id).values(**values))
        return done.rowcount == 1

    def stop(self, process_id: str, at: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(t).where(t.c.process_id == process_id).values(stopped_at=at, beat_at=at)
            )

    def load_all(self) -> list[ServiceProcess]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.started_at)).mappings().all()
        return [
            ServiceProcess(
                process_id=r["process_id"], role=r["role"], host=r["host"], pid=r["pid"],
                run_id=r["run_id"], period_ms=r["period_ms"], started_at=r["started_at"],
                beat_at=r["beat_at"], stopped_at=r["stopped_at"],
                modules=tuple(json.loads(r["modules_json"])),
            )
            for r in rows
        ]  # fmt: skip
