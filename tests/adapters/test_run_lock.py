"""The single-engine lock (issue 22, Part A 2 and 3b): a second engine on one database is
refused naming the running one, a dead one's lock is taken over and its run marked CRASHED."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, insert, select

from quantum_trader.adapters.sql.run_lock import STALE_AFTER_MS, EngineAlreadyRunning, SqlRunLock
from quantum_trader.adapters.sql.tables import runs


class FakeWall:
    """Wall epoch ms that a test moves by hand."""

    def __init__(self, now: int = 1_800_000_000_000) -> None:
        self.t = now

    def now(self) -> int:
        return self.t


def _running(db: Engine, run_id: str, started_at: int) -> None:
    with db.begin() as conn:
        conn.execute(
            insert(runs).values(
                run_id=run_id, mode="replay", started_at=started_at, status="RUNNING"
            )
        )


def _status(db: Engine, run_id: str) -> tuple[str, int | None]:
    with db.connect() as conn:
        row = conn.execute(
            select(runs.c.status, runs.c.finished_at).where(runs.c.run_id == run_id)
        ).one()
    return row[0], row[1]


def test_a_second_engine_is_refused_naming_the_running_one(db_engine: Engine) -> None:
    wall = FakeWall()
    first = SqlRunLock(db_engine, wall.now)
    assert first.acquire("run-a", 4242, "host-a").taken_over is None
    wall.t += STALE_AFTER_MS // 2  # still alive, even with a heartbeat a minute old
    with pytest.raises(EngineAlreadyRunning) as refused:
        SqlRunLock(db_engine, wall.now).acquire("run-b", 4343, "host-b")
    message = str(refused.value)
    assert "\n" not in message
    assert "run run-a" in message and "pid 4242" in message and "host-a" in message
    assert "started 2027-01-15T08:00:00Z" in message and "last heartbeat" in message
    holder = first.holder()
    assert holder is not None and holder.run_id == "run-a"  # the refused one changed nothing


def test_a_heartbeat_keeps_the_lock_and_release_frees_it(db_engine: Engine) -> None:
    wall = FakeWall()
    lock = SqlRunLock(db_engine, wall.now)
    lock.acquire("run-a", 1, "h")
    wall.t += STALE_AFTER_MS
    assert lock.heartbeat("run-a")
    wall.t += STALE_AFTER_MS // 2
    with pytest.raises(EngineAlreadyRunning):
        lock.acquire("run-b", 2, "h")
    lock.release("run-b")  # a run never releases another's lock
    assert lock.holder() is not None
    lock.release("run-a")
    assert lock.holder() is None
    assert lock.acquire("run-b", 2, "h").taken_over is None


def test_a_stale_lock_is_taken_over_and_its_run_marked_crashed(db_engine: Engine) -> None:
    wall = FakeWall()
    dead = SqlRunLock(db_engine, wall.now)
    dead.acquire("run-dead", 1, "h")
    _running(db_engine, "run-dead", wall.t)
    last_beat = wall.t
    wall.t += STALE_AFTER_MS + 1  # killed: no heartbeat for over two minutes
    acquired = SqlRunLock(db_engine, wall.now).acquire("run-new", 2, "h")
    assert acquired.taken_over is not None and acquired.taken_over.run_id == "run-dead"
    assert acquired.crashed == ("run-dead",)
    assert _status(db_engine, "run-dead") == ("CRASHED", last_beat)
    assert not dead.heartbeat("run-dead")  # the dead run, were it to wake, knows it lost
    holder = dead.holder()
    assert holder is not None and holder.run_id == "run-new"


def test_taking_the_lock_sweeps_runs_left_running_without_one(db_engine: Engine) -> None:
    """Runs killed (or failed before their replay) by an older version, which took no lock."""
    wall = FakeWall()
    _running(db_engine, "run-old", wall.t - 10_000)
    acquired = SqlRunLock(db_engine, wall.now).acquire("run-new", 2, "h")
    assert acquired.taken_over is None and acquired.crashed == ("run-old",)
    assert _status(db_engine, "run-old") == ("CRASHED", wall.t)
