"""SQL storage of the Q-learning selector's table (SQLite or PostgreSQL), the adapter of
:class:`~quantum_trader.agents.qtable.QTableRepository`.

A save deletes the scope's cells, writes its header and inserts the new cells inside one
``engine.begin()`` transaction: the database commits all of it or none, so a process killed in
the middle (SIGKILL, power loss) leaves the previous table whole — SQLite rolls the unfinished
transaction back from its WAL at the next open, PostgreSQL never made it visible.
"""

from __future__ import annotations

import math

from sqlalchemy import Engine, delete, select, update

from quantum_trader.adapters.sql.tables_agents import rl_qtable_cells, rl_qtables
from quantum_trader.agents.qtable import CorruptQTableError, QCell, QTableSnapshot


class SqlQTableRepository:
    """Whole-table saves and loads per scope."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(self, snapshot: QTableSnapshot) -> None:
        h, c = rl_qtables, rl_qtable_cells
        header = {
            "state_space": snapshot.state_space,
            "updates": snapshot.updates,
            "trades": snapshot.trades,
            "decisions": snapshot.decisions,
            "saved_at": snapshot.saved_at,
            "cells": len(snapshot.cells),
        }
        rows = [
            {
                "scope": snapshot.scope,
                "state": x.state,
                "action": x.action,
                "q": x.q,
                "visits": x.visits,
            }
            for x in snapshot.cells
        ]
        with self._engine.begin() as conn:
            conn.execute(delete(c).where(c.c.scope == snapshot.scope))
            done = conn.execute(update(h).where(h.c.scope == snapshot.scope).values(**header))
            if done.rowcount == 0:
                conn.execute(h.insert().values(scope=snapshot.scope, **header))
            if rows:
                conn.execute(c.insert(), rows)

    def load(self, scope: str) -> QTableSnapshot | None:
        h, c = rl_qtables, rl_qtable_cells
        with self._engine.connect() as conn:
            head = conn.execute(select(h).where(h.c.scope == scope)).one_or_none()
            if head is None:
                return None
            rows = conn.execute(
                select(c.c.state, c.c.action, c.c.q, c.c.visits)
                .where(c.c.scope == scope)
                .order_by(c.c.state, c.c.action)
            ).all()
        where = f"stored Q-table {scope!r} (tables rl_qtables/rl_qtable_cells)"
        if len(rows) != head.cells:
            raise CorruptQTableError(
                f"{where}: its header counts {head.cells} cells, the table holds {len(rows)}"
            )
        cells = []
        for state, action, q, visits in rows:
            if q is None or not math.isfinite(float(q)):
                raise CorruptQTableError(f"{where}, cell ({state!r}, {action!r}): value {q!r}")
            cells.append(QCell(str(state), str(action), float(q), int(visits)))
        return QTableSnapshot(
            scope,
            str(head.state_space),
            int(head.updates),
            int(head.trades),
            int(head.decisions),
            int(head.saved_at),
            tuple(cells),
        )

    def scopes(self) -> list[str]:
        """Every scope with a stored table (for the status command and operators)."""
        with self._engine.connect() as conn:
            scopes = conn.execute(select(rl_qtables.c.scope).order_by(rl_qtables.c.scope)).scalars()
            return [str(s) for s in scopes]
