"""The single-engine lock: one engine run per database at a time.

Two engines on one home raced each other (duplicate bootstrapped models, an IntegrityError on
``policy_versions``, each risk engine reading the other's policy), so a run holds a row of
``run_lock`` with its pid, host and a wall-clock heartbeat. A second run that finds the row with
a recent heartbeat is refused, naming the holder; a row whose heartbeat is older than
``stale_after_ms``, or whose process is known to be gone, belongs to a dead run (``kill -9``, a
lost machine): it is taken over and that run is marked CRASHED. Taking the lock also sweeps every other run still RUNNING in the
``runs`` table — none can be alive while we hold the lock — to CRASHED.

Acquisition is an INSERT (the primary key makes it exclusive on SQLite and PostgreSQL alike);
a takeover is an UPDATE that names the stale holder's run and heartbeat (compare-and-swap), so
two runs taking over the same dead one cannot both win.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from quantum_trader.adapters.sql.tables import run_lock, runs
from quantum_trader.domain.errors import QuantumTraderError
from quantum_trader.domain.time import fmt

ENGINE_LOCK = "engine"
#: a holder whose wall-clock heartbeat is older than this is dead
STALE_AFTER_MS = 120_000


class EngineAlreadyRunning(QuantumTraderError):
    """Another live engine run holds this database."""


@dataclass(frozen=True, slots=True)
class LockHolder:
    run_id: str
    pid: int
    host: str
    started_at: int  # wall epoch ms
    heartbeat_at: int  # wall epoch ms

    def describe(self, now: int) -> str:
        """One line naming the holder, for refusals and ``status``."""
        age = max(0, now - self.heartbeat_at) // 1000
        return (
            f"run {self.run_id} (pid {self.pid} on {self.host}, started {fmt(self.started_at)}, "
            f"last heartbeat {age} s ago)"
        )


@dataclass(frozen=True, slots=True)
class Acquired:
    """What taking the lock found: a dead holder taken over, runs swept to CRASHED."""

    taken_over: LockHolder | None
    crashed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LastRun:
    run_id: str
    status: str
    started_at: int
    finished_at: int | None


class SqlRunLock:
    """The ``run_lock`` row and the ``runs`` it vouches for. ``now`` is wall epoch ms."""

    def __init__(
        self,
        engine: Engine,
        now: Callable[[], int],
        *,
        stale_after_ms: int = STALE_AFTER_MS,
        known_dead: Callable[[LockHolder], bool] = lambda _holder: False,
    ) -> None:
        """``known_dead``: whether a holder is certainly dead before its heartbeat goes stale
        (its process is gone from this very host), so it need not wait ``stale_after_ms``."""
        self._engine = engine
        self._now = now
        self.stale_after_ms = stale_after_ms
        self._known_dead = known_dead

    def now(self) -> int:
        return self._now()

    def holder(self) -> LockHolder | None:
        with self._engine.connect() as conn:
            row = (
                conn.execute(select(run_lock).where(run_lock.c.name == ENGINE_LOCK))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return LockHolder(
            row["run_id"], row["pid"], row["host"], row["started_at"], row["heartbeat_at"]
        )

    def is_alive(self, holder: LockHolder) -> bool:
        fresh = self.now() - holder.heartbeat_at <= self.stale_after_ms
        return fresh and not self._known_dead(holder)

    def acquire(self, run_id: str, pid: int, host: str) -> Acquired:
        """Take the lock for ``run_id`` or raise :class:`EngineAlreadyRunning`."""
        now = self._now()
        row = {"run_id": run_id, "pid": pid, "host": host, "started_at": now, "heartbeat_at": now}
        taken_over = None
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(run_lock).values(name=ENGINE_LOCK, **row))
        except IntegrityError:
            taken_over = self._take_over(row)
        return Acquired(taken_over, self._sweep(run_id, taken_over))

    def _take_over(self, row: dict[str, object]) -> LockHolder | None:
        held = self.holder()
        if held is None:  # released between our INSERT and this read: try once more
            with self._engine.begin() as conn:
                conn.execute(insert(run_lock).values(name=ENGINE_LOCK, **row))
            return None
        if self.is_alive(held):
            raise EngineAlreadyRunning(
                f"another engine is running on this database: {held.describe(self._now())}; "
                "stop it first"
            )
        with self._engine.begin() as conn:
            done = conn.execute(
                update(run_lock)
                .where(
                    run_lock.c.name == ENGINE_LOCK,
                    run_lock.c.run_id == held.run_id,
                    run_lock.c.heartbeat_at == held.heartbeat_at,
                )
                .values(**row)
            )
        if done.rowcount != 1:
            raise EngineAlreadyRunning(
                f"another engine took over the stale lock of run {held.run_id} at the same time"
            )
        return held

    def _sweep(self, run_id: str, taken_over: LockHolder | None) -> tuple[str, ...]:
        """Every other run still RUNNING is dead (we hold the lock): mark it CRASHED, at its
        last heartbeat when it is the holder we took over, else now (when it was found dead)."""
        with self._engine.begin() as conn:
            dead = conn.execute(
                select(runs.c.run_id).where(runs.c.status == "RUNNING", runs.c.run_id != run_id)
            ).scalars()
            crashed = tuple(sorted(dead))
            for dead_id in crashed:
                seen = self._now()
                if taken_over is not None and taken_over.run_id == dead_id:
                    seen = taken_over.heartbeat_at
                conn.execute(
                    update(runs)
                    .where(runs.c.run_id == dead_id, runs.c.status == "RUNNING")
                    .values(status="CRASHED", finished_at=seen)
                )
        return crashed

    def heartbeat(self, run_id: str) -> bool:
        """Refresh ``run_id``'s heartbeat; False when the lock is no longer its own."""
        with self._engine.begin() as conn:
            done = conn.execute(
                update(run_lock)
                .where(run_lock.c.name == ENGINE_LOCK, run_lock.c.run_id == run_id)
                .values(heartbeat_at=self._now())
            )
        return bool(done.rowcount)

    def release(self, run_id: str) -> None:
        """Drop the lock if ``run_id`` still holds it (never another run's)."""
        with self._engine.begin() as conn:
            conn.execute(
                run_lock.delete().where(run_lock.c.name == ENGINE_LOCK, run_lock.c.run_id == run_id)
            )

    def last_run(self) -> LastRun | None:
        """The most recently started run."""
        with self._engine.connect() as conn:
            row = (
                conn.execute(select(runs).order_by(runs.c.started_at.desc()).limit(1))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return LastRun(row["run_id"], row["status"], row["started_at"], row["finished_at"])
