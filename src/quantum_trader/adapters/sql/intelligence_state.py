"""SQL storage for the intelligence modules' state (SQLite or PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from quantum_trader.adapters.sql.tables_intelligence import intelligence_state


class SqlIntelligenceStateRepository:
    """Upserts one JSON document per key."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(self, key: str, state_json: str, at: int) -> None:
        t = intelligence_state
        values = {"key": key, "state_json": state_json, "updated_at": at}
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                stmt = postgresql.insert(t).values(**values)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[t.c.key],
                        set_={"state_json": state_json, "updated_at": at},
                    )
                )
            elif conn.dialect.name == "sqlite":
                lite = sqlite.insert(t).values(**values)
                conn.execute(
                    lite.on_conflict_do_update(
                        index_elements=[t.c.key],
                        set_={"state_json": state_json, "updated_at": at},
                    )
                )
            else:
                done = conn.execute(
                    update(t).where(t.c.key == key).values(state_json=state_json, updated_at=at)
                )
                if done.rowcount == 0:
                    conn.execute(t.insert().values(**values))

    def load(self, key: str) -> str | None:
        t = intelligence_state
        with self._engine.connect() as conn:
            value = conn.execute(select(t.c.state_json).where(t.c.key == key)).scalar()
        return None if value is None else str(value)
