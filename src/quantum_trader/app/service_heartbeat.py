"""A process's heartbeat in the database (``status/services.py``): recorded at start, beaten
every period by a daemon thread on the wall clock, stopped cleanly at the end.

The thread dies with the process, so a killed process stops beating and reads DOWN after
``DOWN_AFTER_PERIODS`` periods; a database that is busy or briefly away costs a beat, not the
process (the next beat tries again). A service role other than the engine reports its modules
through :class:`ServiceModules` (the engine's are its run's ``StatusRegistry``).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.service_health import SqlServiceHealth
from quantum_trader.clock.clock import Clock, WallClock
from quantum_trader.observability.logging import get_logger
from quantum_trader.status.registry import ModuleHandle, StatusRegistry
from quantum_trader.status.services import ROLE_MODULES, ServiceProcess

log = get_logger(__name__)

#: seconds between two beats (a process is DOWN 3 periods after its last: 45 s)
PERIOD_S = 15.0


class ServiceHeartbeat:
    """The heartbeat of this process in ``role``; ``modules``: the module names it reports,
    read at every beat (a run registers its modules after it starts)."""

    def __init__(
        self,
        db: Engine,
        role: str,
        *,
        run_id: str | None = None,
        modules: Callable[[], Sequence[str]] = tuple,
        period_s: float = PERIOD_S,
        now: Callable[[], int] | None = None,
    ) -> None:
        self._repo = SqlServiceHealth(db)
        self._modules = modules
        self._now = now or WallClock().now
        started = self._now()
        host, pid = socket.gethostname(), os.getpid()
        self.process = ServiceProcess(
            process_id=f"{role}@{host}:{pid}:{started}", role=role, host=host, pid=pid,
            run_id=run_id, period_ms=int(period_s * 1000), started_at=started, beat_at=started,
            modules=tuple(modules()),
        )  # fmt: skip
        self._repo.start(self.process)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(period_s,), name=f"heartbeat-{role}", daemon=True
        )
        self._thread.start()

    def beat(self) -> None:
        """One beat now, with the modules reported now."""
        try:
            self._repo.beat(self.process.process_id, self._now(), tuple(self._modules()))
        except Exception as exc:  # a busy or unreachable database: the next beat tries again
            log.warning("service.heartbeat_failed", role=self.process.role,
                        error=f"{type(exc).__name__}: {exc}")  # fmt: skip

    def _run(self, period_s: float) -> None:
        while not self._stop.wait(period_s):
            self.beat()

    def stop(self) -> None:
        """A clean stop (idempotent): the last beat, then STOPPED."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        self.beat()
        try:
            self._repo.stop(self.process.process_id, self._now())
        except Exception as exc:  # it will read DOWN instead: said in the log
            log.warning("service.stop_failed", role=self.process.role,
                        error=f"{type(exc).__name__}: {exc}")  # fmt: skip


class ServiceModules:
    """The modules of a service role other than the engine (``ROLE_MODULES``), in
    ``module_status`` beside the engine's run: what the role's process really did, saved at
    each :meth:`flush`. ``names`` is what its :class:`ServiceHeartbeat` reports, so ``status``
    names that process, and its state, for each of them. A database failing a save costs the
    save, as it costs a beat."""

    def __init__(self, db: Engine, role: str, clock: Clock | None = None) -> None:
        self._role = role
        self._names = ROLE_MODULES.get(role, ())
        self._registry = StatusRegistry(clock or WallClock(), SqlStatusRepository(db, self._names))

    def register(self, name: str, reason: str) -> ModuleHandle:
        """``name``, ACTIVE: a role has no config switch for its modules (it runs them or does
        not run)."""
        if name not in self._names:
            raise ValueError(f"module {name!r} is not the {self._role} role's (ROLE_MODULES)")
        return self._registry.register(name, enabled=True, reason=reason)

    def names(self) -> list[str]:
        return [s.name for s in self._registry.snapshot()]

    def flush(self) -> None:
        """Save the modules as they are now (their heartbeat: now)."""
        self._registry.heartbeat_all()
        try:
            self._registry.flush()
        except Exception as exc:  # logged; the role goes on, the next flush tries again
            log.warning("service.modules_flush_failed", role=self._role,
                        error=f"{type(exc).__name__}: {exc}")  # fmt: skip
