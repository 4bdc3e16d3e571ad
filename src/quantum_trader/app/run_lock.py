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

from sqlalchemy import Engine

from quantum_trader.adapters.sql.run_lock import Acquired, SqlRunLock
from quantum_trader.clock.clock import WallClock
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


def hold_run_lock(db: Engine, run_id: str, *, period_s: float = HEARTBEAT_S) -> HeldLock:
    """Take the engine lock of ``db`` for ``run_id`` (or raise ``EngineAlreadyRunning``, one
    line naming the running engine) and start its heartbeat."""
    lock = SqlRunLock(db, WallClock().now)
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
