"""The composition root: builds one engine run from settings.

Everything concrete is chosen here — storage engine, bus, clock, repositories — and handed to
modules as ports. Nothing else in the code base reads settings or opens connections.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import insert, update

from quantum_trader.adapters.sql.event_outbox import EventOutboxWriter
from quantum_trader.adapters.sql.repositories import SqlPolicyRepository, SqlStatusRepository
from quantum_trader.adapters.sql.tables import runs
from quantum_trader.app.run_lock import HeldLock
from quantum_trader.app.service_heartbeat import ServiceHeartbeat
from quantum_trader.app.storage import open_settings_database
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.bus.policy_store import PolicyStore
from quantum_trader.clock.clock import Clock, SimulatedClock, WallClock, is_simulated
from quantum_trader.clock.pause import TrainingPause
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.config.modules import module_enabled
from quantum_trader.config.settings import Settings
from quantum_trader.domain.run_ids import checked_run_id
from quantum_trader.domain.time import MS_PER_HOUR, MS_PER_MINUTE, MS_PER_SECOND
from quantum_trader.observability.logging import get_logger
from quantum_trader.status.registry import ModuleHandle, StatusRegistry

log = get_logger(__name__)


def register_module(
    status: StatusRegistry, settings: Settings, name: str, reason: str
) -> ModuleHandle:
    """Register ``name``: enabled or not by config, with the config reason when off."""
    enabled, why = module_enabled(settings, name)
    return status.register(name, enabled=enabled, reason=reason if enabled else why)


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def given_or_new_run_id(run_id: str | None) -> str:
    """The caller's run id, checked (it names the run's folder: ``domain/run_ids.py``), else a
    new one."""
    return checked_run_id(run_id) if run_id else new_run_id()


@dataclass
class Runtime:
    """Everything one run of the engine holds."""

    settings: Settings
    run_id: str
    mode: str
    db: SqlEngine
    clock: Clock
    bus: InProcessBus
    scheduler: Scheduler
    status: StatusRegistry
    policies: PolicyStore
    modules: dict[str, ModuleHandle] = field(default_factory=dict)
    lock: HeldLock | None = None  # the single-engine lock (app/run_lock.py), released at the end
    #: this engine process's heartbeat (app/service_heartbeat.py): only the lock's holder beats
    heartbeat: ServiceHeartbeat | None = None
    #: the bus events the API's live stream serves (adapters/sql/event_outbox.py)
    outbox: EventOutboxWriter | None = None
    #: stops the training workers while a live candle is decided (clock/pause.py)
    training_pause: TrainingPause = field(default_factory=TrainingPause)

    def register(self, name: str, reason: str) -> ModuleHandle:
        """Register a module with its config switch; the reason says what it does when on."""
        handle = register_module(self.status, self.settings, name, reason)
        self.modules[name] = handle
        return handle

    def start(self) -> None:
        with self.db.begin() as conn:
            conn.execute(
                insert(runs).values(
                    run_id=self.run_id,
                    mode=self.mode,
                    started_at=WallClock().now(),
                    status="RUNNING",
                    summary_json="{}",
                )
            )
        self.status.flush()
        if self.lock is not None:
            self.heartbeat = ServiceHeartbeat(
                self.db, "engine", run_id=self.run_id,
                modules=lambda: [s.name for s in self.status.snapshot()],
            )  # fmt: skip

    def finish(self, status: str, summary: dict[str, Any]) -> None:
        if self.outbox is not None:
            self.outbox.flush()
        self.status.heartbeat_all()
        self.status.flush()
        with self.db.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.run_id == self.run_id)
                .values(
                    finished_at=WallClock().now(),
                    status=status,
                    summary_json=json.dumps(summary, sort_keys=True, default=str),
                )
            )
        self.release_lock()

    def abort(self, status: str) -> None:
        """The run ended by an error (or Ctrl-C) before it could :meth:`finish`: record
        ``status`` if the run is still RUNNING, and let the lock go."""
        self._flush_outbox_after_failure()
        try:
            with self.db.begin() as conn:
                conn.execute(
                    update(runs)
                    .where(runs.c.run_id == self.run_id, runs.c.status == "RUNNING")
                    .values(finished_at=WallClock().now(), status=status)
                )
        finally:
            self.release_lock()

    def _flush_outbox_after_failure(self) -> None:
        """Write the run's last events; a failure is logged, not raised: the error that ended
        the run is the one the caller reports (the database may be what failed)."""
        if self.outbox is None:
            return
        try:
            self.outbox.flush()
        except Exception as exc:
            log.warning(
                "events.outbox_flush_failed",
                lost=self.outbox.pending,
                error=f"{type(exc).__name__}: {str(exc)[:200]}",
            )

    def release_lock(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.lock is not None:
            self.lock.release()


def record_interrupted(settings: Settings, run_id: str) -> bool:
    """Mark a run that was stopped by Ctrl-C before it could finish itself (during training,
    say) as INTERRUPTED instead of leaving it RUNNING; False if it had finished already."""
    db = open_settings_database(settings)
    try:
        with db.begin() as conn:
            done = conn.execute(
                update(runs)
                .where(runs.c.run_id == run_id, runs.c.status == "RUNNING")
                .values(finished_at=WallClock().now(), status="INTERRUPTED")
            )
        return bool(done.rowcount)
    finally:
        db.dispose()


def build_runtime(
    settings: Settings,
    *,
    mode: str,
    start_ms: int | None = None,
    run_id: str | None = None,
    clock: Clock | None = None,
    db: SqlEngine | None = None,
    lock: HeldLock | None = None,
) -> Runtime:
    """Wire a run. ``mode`` is "replay" (simulated clock from ``start_ms``), "replay+live" (a
    replay that goes on with live candles: the caller passes its ``ReplayThenWallClock``) or
    "live" (wall clock). ``clock``, when given, is the run's clock whatever the mode. ``db``:
    the run's database when already opened (to take ``lock``, the engine lock, before the run
    reads or writes anything)."""
    run_id = run_id or new_run_id()
    if db is None:
        db = open_settings_database(settings)
    if clock is None:
        clock = SimulatedClock(start_ms or 0) if mode == "replay" else WallClock()
    bus = InProcessBus(clock, run_id=run_id)
    scheduler = Scheduler(clock)
    status = StatusRegistry(clock, SqlStatusRepository(db), run_id=run_id)
    policies = PolicyStore(SqlPolicyRepository(db), bus, clock)
    what = "replaying stored closed candles through the engine"
    if mode == "replay+live":
        what += ", then live closed candles from Binance USDT-M"
    market = register_module(status, settings, "market_data", what)
    rt = Runtime(
        settings=settings,
        run_id=run_id,
        mode=mode,
        db=db,
        clock=clock,
        bus=bus,
        scheduler=scheduler,
        status=status,
        policies=policies,
        modules={"market_data": market},
        lock=lock,
        training_pause=TrainingPause(enabled=settings.training_pause),
    )
    _wire_bus_and_policy(rt, start_ms or clock.now())
    return rt


#: how often buffered outbox events are written when no batch filled first: the live stream's
#: delay (on replay time at most once per wall second, like the status flush)
OUTBOX_FLUSH_MS = MS_PER_SECOND


def _wire_bus_and_policy(rt: Runtime, start: int) -> None:
    handle = rt.register("bus_and_policy", "in-process event bus and versioned policy store")

    def count_event(*_event: Any) -> None:
        handle.count("events_published")

    rt.bus.add_recorder(count_event)
    _wire_event_outbox(rt, handle, start)

    def refresh_policies(_t: int) -> None:
        handle.count("policy_refreshes")
        changed = rt.policies.refresh()
        if changed:
            handle.count("policy_updates_seen", changed)

    def flush_status(_t: int) -> None:
        rt.status.heartbeat_all()
        rt.status.flush()

    # Both jobs serve other processes: `quantum-trader status` reads the flushed status, and
    # policy versions written from the CLI are picked up by the refresh. A replay runs engine
    # time thousands of times faster than wall time, where a flush per simulated hour was ~20 %
    # of the replay's time (bench/bench_pipeline.py); there they run at most once per wall second
    # (after a switch to live, engine time is wall time and their own interval is the longer).
    refresh = while_replaying_at_most_every_wall(rt.clock, refresh_policies)
    flush = while_replaying_at_most_every_wall(rt.clock, flush_status)
    rt.scheduler.every("policy.refresh", MS_PER_MINUTE, refresh, start_at=start, catch_up=False)
    rt.scheduler.every("status.flush", MS_PER_HOUR, flush, start_at=start, catch_up=False)


def _wire_event_outbox(rt: Runtime, handle: ModuleHandle, start: int) -> None:
    """Persist the operator's topics for the API's live stream: a recorder that buffers, a
    job that writes what is buffered (full batches write themselves), and ``finish`` /
    ``abort`` write the rest."""
    outbox = EventOutboxWriter(
        rt.db, rt.run_id, on_write=lambda n: handle.count("outbox_events_written", n)
    )
    rt.outbox = outbox
    rt.bus.add_recorder(outbox.record)

    def flush_outbox(_t: int) -> None:
        outbox.flush()

    job = while_replaying_at_most_every_wall(rt.clock, flush_outbox)
    rt.scheduler.every("events.outbox_flush", OUTBOX_FLUSH_MS, job, start_at=start, catch_up=False)


#: in a replay, the least wall time between two runs of a job that serves other processes
REPLAY_WALL_INTERVAL_S = 1.0


def at_most_every_wall(
    seconds: float, fn: Callable[[int], object], wall: Callable[[], float] = time.monotonic
) -> Callable[[int], None]:
    """``fn`` as a scheduler job that skips its runs coming less than ``seconds`` of wall time
    after the previous one it made (the first always runs).

    >>> walls = iter([0.0, 0.5, 1.2]); ran = []
    >>> job = at_most_every_wall(1.0, ran.append, wall=lambda: next(walls))
    >>> for t in (10, 20, 30): job(t)
    >>> ran
    [10, 30]
    """
    last: list[float] = []

    def job(now: int) -> None:
        t = wall()
        if last and t - last[0] < seconds:
            return
        last[:] = [t]
        fn(now)

    return job


def while_replaying_at_most_every_wall(
    clock: Clock, fn: Callable[[int], object], seconds: float = REPLAY_WALL_INTERVAL_S
) -> Callable[[int], None]:
    """``fn`` as a job that, while ``clock`` is on replay time, runs at most once per
    ``seconds`` of wall time (:func:`at_most_every_wall`), and on wall time at every run."""
    throttled = at_most_every_wall(seconds, fn)

    def job(now: int) -> None:
        if is_simulated(clock):
            throttled(now)
        else:
            fn(now)

    return job


def while_replaying_every_engine(
    clock: Clock, fn: Callable[[int], object], interval_ms: int
) -> Callable[[int], None]:
    """``fn`` as a job that, while ``clock`` is on replay time, runs at most once per
    ``interval_ms`` of engine time, and on wall time at every run. Unlike a wall-time throttle
    the runs fall on the same candles in every replay, so what ``fn`` publishes keeps the
    replay deterministic.

    >>> ran = []; job = while_replaying_every_engine(SimulatedClock(0), ran.append, 100)
    >>> for t in (0, 50, 100, 120, 250): job(t)
    >>> ran
    [0, 100, 250]
    """
    last: list[int] = []

    def job(now: int) -> None:
        if is_simulated(clock):
            if last and now - last[0] < interval_ms:
                return
            last[:] = [now]
        fn(now)

    return job
