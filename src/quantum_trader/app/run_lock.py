"""Holding the single-engine lock for one run: take it, keep its heartbeat fresh, let it go.

The heartbeat is wall time, beaten by a daemon thread: a replay's engine clock runs thousands
of times faster than the wall and a live phase may sit idle between candles, so neither the
engine clock nor the scheduler can say whether the process is alive. The thread dies with the
process, so a killed engine's heartbeat goes stale and the next run takes the lock over
(``adapters/sql/run_lock.py``).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from quantum_trader.adapters.sql.run_lock import Acquired, LockHolder, SqlRunLock
from quantum_trader.clock.clock import WallClock
from quantum_trader.domain.time import fmt
from quantum_trader.observability.logging import get_logger

log = get_logger(__name__)

#: seconds between two heartbeats (the lock is stale after adapters' STALE_AFTER_MS, 120 s)
HEARTBEAT_S = 15.0


class HeldLock:
    """The lock of one run, held until :meth:`release` (idempotent)."""

    def __init__(self, lock: SqlRunLock, run_id: str, acquired: Acquired, period_s: float) -> None:
        self.lock = lock
        self.run_id = run_id
        self.acquired = acquired
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(period_s,), name=f"run-lock-{run_id}", daemon=True
        )
        self._thread.start()

    def _beat(self, period_s: float) -> None:
        while not self._stop.wait(period_s):
            try:
                if not self.lock.heartbeat(self.run_id):
                    log.error("run_lock.lost", run_id=self.run_id)
                    return
            except Exception as exc:  # a busy database: the next beat tries again
                log.warning("run_lock.heartbeat_failed", error=f"{type(exc).__name__}: {exc}")

    def release(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        self.lock.release(self.run_id)


def gone_from_this_host(holder: LockHolder) -> bool:
    """The holder ran on this host and its process no longer exists (or is a zombie): it is
    dead now, not only once its heartbeat is two minutes old. A reused pid reads as alive,
    which only delays a takeover to the heartbeat's timeout."""
    if holder.host != socket.gethostname():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        state = Path(f"/proc/{holder.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state == "Z"


def run_lock_of(db: Engine, now: Callable[[], int] | None = None) -> SqlRunLock:
    """The engine lock of ``db`` on the wall clock, a holder gone from this host being dead."""
    return SqlRunLock(db, now or WallClock().now, known_dead=gone_from_this_host)


def hold_run_lock(db: Engine, run_id: str, *, period_s: float = HEARTBEAT_S) -> HeldLock:
    """Take the engine lock of ``db`` for ``run_id`` (or raise ``EngineAlreadyRunning``, one
    line naming the running engine) and start its heartbeat."""
    lock = run_lock_of(db)
    acquired = lock.acquire(run_id, os.getpid(), socket.gethostname())
    if acquired.taken_over is not None:
        log.warning(
            "run_lock.taken_over",
            dead_run=acquired.taken_over.run_id,
            last_heartbeat=acquired.taken_over.heartbeat_at,
        )
    if acquired.crashed:
        log.warning("runs.marked_crashed", runs=",".join(acquired.crashed))
    return HeldLock(lock, run_id, acquired, period_s)


@dataclass(frozen=True, slots=True)
class EngineLiveness:
    """What ``status`` says about the engine itself, in wall time."""

    line: str
    alive: bool
    died: bool  # the last run ended without finishing (killed, lost): not a clean state


def engine_liveness(db: Engine, now: int | None = None) -> EngineLiveness:
    """Whether an engine holds ``db`` now (a recent lock heartbeat), else how the last run
    ended — so that module states flushed by a dead engine are never read as live."""
    lock = run_lock_of(db, (lambda: now) if now is not None else None)
    wall = lock.now()
    holder = lock.holder()
    if holder is not None and lock.is_alive(holder):
        return EngineLiveness(f"engine running: {holder.describe(wall)}", True, False)
    if holder is not None:
        return EngineLiveness(
            f"engine not running (last run {holder.run_id} CRASHED: no heartbeat since "
            f"{fmt(holder.heartbeat_at)}, pid {holder.pid} on {holder.host})",
            False,
            True,
        )
    last = lock.last_run()
    if last is None:
        return EngineLiveness("engine not running (no run recorded)", False, False)
    if last.status == "RUNNING":  # no lock: an older version's run, killed
        return EngineLiveness(
            f"engine not running (last run {last.run_id} CRASHED: RUNNING since "
            f"{fmt(last.started_at)} without a live engine lock)",
            False,
            True,
        )
    when = fmt(last.finished_at) if last.finished_at is not None else "?"
    return EngineLiveness(
        f"engine not running (last run {last.run_id} {last.status} at {when})",
        False,
        last.status == "CRASHED",
    )
