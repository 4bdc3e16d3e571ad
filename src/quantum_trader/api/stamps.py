"""Stamps: cheap reads whose value changes whenever an answer's own records change, so that a
kept answer (``api/answers.py``) is computed again only then, not at every heartbeat another
process commits to the database.

* The last run's execution records (orders, fills, trades, ledger, equity) are written only by
  ``SqlExecutionStore.commit``, which rewrites the run's ``replay_checkpoints`` row in the same
  transaction: its cursor (one more per candle), engine time, finished flag and state (the
  portfolio, the exchange's and the order manager's snapshots) stamp them.
* An experiment's observations and assignments are written once each, never changed (the
  primary key refuses a second write); its audit trail only grows; its status and verdict are
  one row. Counts, the last step and audit id, and that row stamp it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import ColumnElement, Engine, ScalarSelect, Table, func, select

from quantum_trader.adapters.sql.run_lock import SqlRunLock
from quantum_trader.adapters.sql.tables_execution import replay_checkpoints
from quantum_trader.adapters.sql.tables_experiments import (
    experiment_assignments,
    experiment_audit,
    experiment_observations,
    experiments,
)
from quantum_trader.clock.clock import Clock

RunStamp = tuple[str, tuple[int, int, bool, bytes] | None] | None
ExperimentStamp = tuple[str, str, int, int, int | None, int, int | None]


def last_run_stamp(engine: Engine, clock: Clock) -> RunStamp:
    """The last run's id and its checkpoint (None: no run; (id, None): no checkpoint yet)."""
    last = SqlRunLock(engine, clock.now).last_run()
    if last is None:
        return None
    t = replay_checkpoints
    with engine.connect() as conn:
        row = conn.execute(
            select(t.c.cursor, t.c.last_time, t.c.finished, t.c.state_json).where(
                t.c.run_id == last.run_id
            )
        ).first()
    if row is None:
        return last.run_id, None
    state = hashlib.blake2b(str(row.state_json).encode(), digest_size=16).digest()
    return last.run_id, (int(row.cursor), int(row.last_time), bool(row.finished), state)


def experiment_stamps(engine: Engine, name: str | None = None) -> dict[str, ExperimentStamp]:
    """Per experiment (only ``name``'s when given): status, verdict, last update, observations
    and the last step, assignments, and the last audit entry's id."""
    e, o, a, u = experiments, experiment_observations, experiment_assignments, experiment_audit

    def of(value: ColumnElement[Any], table: Table) -> ScalarSelect[Any]:
        """``value`` over ``table``'s rows of the outer row's experiment."""
        return select(value).where(table.c.experiment == e.c.name).scalar_subquery()

    stmt = select(
        e.c.name,
        e.c.status,
        e.c.verdict,
        e.c.updated_at,
        of(func.count(), o),
        of(func.max(o.c.step), o),
        of(func.count(), a),
        of(func.max(u.c.id), u),
    ).order_by(e.c.name)
    if name is not None:
        stmt = stmt.where(e.c.name == name)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return {
        str(r[0]): (
            str(r[1]), str(r[2]), int(r[3]), int(r[4]),
            None if r[5] is None else int(r[5]), int(r[6]), None if r[7] is None else int(r[7]),
        )
        for r in rows
    }  # fmt: skip
