"""Periodic jobs on the engine's clock.

The scheduler never sleeps and never reads system time: the engine calls ``run_due(now)`` as
its clock advances (each replayed candle, or each tick of the wall clock), and every job whose
time has come runs, in time order. Ties run in registration order, so a replay is deterministic.
By default a job that is several periods late runs once per missed period, at its simulated
times, because in replay a check (retraining, controller evaluation) must see each time it would
have seen live. Jobs for which only the latest state matters (policy refresh, status flush) pass
``catch_up=False``: missed periods collapse into one run at the latest due time.

A job whose work is heavy (a retraining) is registered with :meth:`Scheduler.every_in_worker`:
it prepares inline, computes in a worker and lands its result at a declared later engine time,
deterministically in replay and without ever blocking live (``clock/worker_jobs.py``). At one
engine time, jobs run and results land in registration order; a job's result due at ``t`` lands
before the same job's next run at ``t``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from quantum_trader.clock.clock import Clock, is_simulated
from quantum_trader.clock.worker_jobs import (
    Landing,
    Worker,
    WorkerJob,
    WorkerJobError,
    WorkerTask,
)
from quantum_trader.domain.time import fmt

JobFn = Callable[[int], object]  # a return value (e.g. a count) is ignored
I = TypeVar("I")  # noqa: E741 - a worker job's inputs
R = TypeVar("R")

_LANDS, _RUNS = 0, 1  # at one time and job order, a result lands before the job's next run


@dataclass(slots=True)
class ScheduledJob:
    name: str
    interval_ms: int
    fn: JobFn
    next_run: int
    order: int = 0  # registration order: breaks ties between jobs due at the same time
    catch_up: bool = True
    runs: int = 0
    last_run: int | None = None
    worker: WorkerJob[Any, Any] | None = None  # a worker job (then ``fn`` is its ``start``)


@dataclass(order=True, slots=True)
class _Entry:
    due: int
    order: int
    phase: int
    job: ScheduledJob = field(compare=False)
    landing: Landing | None = field(default=None, compare=False)


class Scheduler:
    """Runs registered jobs at fixed intervals of engine time.

    ``clock`` (the engine's) is needed only by worker jobs: it says whether a result due now is
    waited for (replay time) or not (wall time).
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._heap: list[_Entry] = []
        self._jobs: dict[str, ScheduledJob] = {}
        self._seq = 0
        self._clock = clock

    def every(
        self, name: str, interval_ms: int, fn: JobFn, *, start_at: int, catch_up: bool = True
    ) -> ScheduledJob:
        """Run ``fn(t)`` at ``start_at + k * interval_ms`` for k = 0, 1, 2, …"""
        if interval_ms <= 0:
            raise ValueError(f"job {name!r}: interval_ms must be > 0, got {interval_ms}")
        if name in self._jobs:
            raise ValueError(f"job {name!r} is already scheduled")
        self._seq += 1
        job = ScheduledJob(
            name=name,
            interval_ms=interval_ms,
            fn=fn,
            next_run=start_at,
            order=self._seq,
            catch_up=catch_up,
        )
        self._jobs[name] = job
        self._push(job)
        return job

    def every_in_worker(
        self,
        name: str,
        interval_ms: int,
        task: WorkerTask[I, R],
        *,
        worker: Worker,
        delay_ms: int,
        start_at: int,
        catch_up: bool = True,
        on_error: Callable[[WorkerJobError], object] | None = None,
    ) -> ScheduledJob:
        """At ``t = start_at + k * interval_ms``: ``task.prepare(t)`` inline, ``task.compute``
        in ``worker``, ``task.apply(result, t + delay_ms)`` at engine time ``t + delay_ms``.

        ``delay_ms`` is how long the computation "takes" in engine time; it may not exceed the
        interval (a result lands before the job's next run). A failed computation is counted
        and handed to ``on_error`` or, without one, raised from :meth:`run_due` as a
        :class:`~quantum_trader.clock.worker_jobs.WorkerJobError`. The worker belongs to the
        caller, who starts it and shuts it down.
        """
        if self._clock is None:
            raise ValueError(
                f"job {name!r}: a worker job needs the engine clock (Scheduler(clock=...)): its "
                "result is waited for on replay time and never on wall time"
            )
        if not 0 <= delay_ms <= interval_ms:
            raise ValueError(
                f"job {name!r}: delay_ms must be in [0, interval_ms={interval_ms}], got {delay_ms}"
            )
        worker_job = WorkerJob(name, task, worker, delay_ms, on_error)
        job = self.every(name, interval_ms, worker_job.start, start_at=start_at, catch_up=catch_up)
        job.worker = worker_job
        return job

    def cancel(self, name: str) -> None:
        """Unschedule a job; a computation of it in flight is cancelled and never lands."""
        job = self._jobs.pop(name, None)
        if job is not None and job.worker is not None:
            job.worker.cancel()

    def stop(self) -> None:
        """The engine is stopping: no job runs again and every computation in flight is
        cancelled (it never lands). The jobs stay listed in :attr:`jobs` with what they did."""
        for job in self._jobs.values():
            if job.worker is not None:
                job.worker.cancel()
        self._heap.clear()

    @property
    def jobs(self) -> dict[str, ScheduledJob]:
        return dict(self._jobs)

    def oldest_in_flight(self) -> Landing | None:
        """The computation in flight prepared first (None: none is)."""
        pending = [
            job.worker.pending
            for job in self._jobs.values()
            if job.worker is not None and job.worker.pending is not None
        ]
        return min(pending, key=lambda landing: landing.ran_at, default=None)

    def next_due(self) -> int | None:
        """The earliest time a job runs or a result lands (on wall time, possibly past: a
        result not ready yet is asked for again at each :meth:`run_due`)."""
        while self._heap and self._heap[0].job.name not in self._jobs:
            heapq.heappop(self._heap)
        return self._heap[0].due if self._heap else None

    def run_due(self, now: int) -> list[tuple[str, int]]:
        """Run every job due at or before ``now`` and land every result due by then; returns
        (name, time) in run order, a landing named ``"<job>:landed"``. A job that raises is
        still scheduled for its next period, and the landings not yet ready stay queued: the
        error goes to the caller (the live phase retries a network error at its next poll),
        and a reconciliation whose request got no answer runs again at its next time."""
        ran: list[tuple[str, int]] = []
        not_ready: list[_Entry] = []
        try:
            self._run_due(now, ran, not_ready)
        finally:
            for entry in not_ready:
                heapq.heappush(self._heap, entry)
        return ran

    def _run_due(self, now: int, ran: list[tuple[str, int]], not_ready: list[_Entry]) -> None:
        while (due := self.next_due()) is not None and due <= now:
            entry = heapq.heappop(self._heap)
            job = entry.job
            if self._jobs.get(job.name) is not job:
                continue  # cancelled (and perhaps scheduled again under the same name)
            if entry.landing is not None:
                assert job.worker is not None
                if job.worker.land(entry.landing, wait=self._waits()):
                    ran.append((f"{job.name}:landed", entry.due))
                else:
                    not_ready.append(entry)
                continue
            due = entry.due
            if not job.catch_up:
                due += (now - due) // job.interval_ms * job.interval_ms  # latest missed period
            try:
                if job.worker is None:
                    job.fn(due)
                elif (landing := job.worker.start(due)) is not None:
                    heapq.heappush(
                        self._heap, _Entry(landing.lands_at, job.order, _LANDS, job, landing)
                    )
            except BaseException:
                job.next_run = due + job.interval_ms
                self._push(job)
                raise
            job.runs += 1
            job.last_run = due
            job.next_run = due + job.interval_ms
            ran.append((job.name, due))
            self._push(job)

    def _waits(self) -> bool:
        return self._clock is not None and is_simulated(self._clock)

    def _push(self, job: ScheduledJob) -> None:
        heapq.heappush(self._heap, _Entry(job.next_run, job.order, _RUNS, job))

    def describe(self) -> list[str]:
        return [
            f"{j.name}: every {j.interval_ms} ms, next {fmt(j.next_run)}"
            + (f", lands {j.worker.delay_ms} ms later from a worker" if j.worker else "")
            for j in self._jobs.values()
        ]
