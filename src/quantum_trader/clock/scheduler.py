"""Periodic jobs on the engine's clock.

The scheduler never sleeps and never reads system time: the engine calls ``run_due(now)`` as
its clock advances (each replayed candle, or each tick of the wall clock), and every job whose
time has come runs, in time order. Ties run in registration order, so a replay is deterministic.
By default a job that is several periods late runs once per missed period, at its simulated
times, because in replay a check (retraining, controller evaluation) must see each time it would
have seen live. Jobs for which only the latest state matters (policy refresh, status flush) pass
``catch_up=False``: missed periods collapse into one run at the latest due time.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from quantum_trader.domain.time import fmt

JobFn = Callable[[int], object]  # a return value (e.g. a count) is ignored


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


@dataclass(order=True, slots=True)
class _Entry:
    due: int
    order: int
    job: ScheduledJob = field(compare=False)


class Scheduler:
    """Runs registered jobs at fixed intervals of engine time."""

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._jobs: dict[str, ScheduledJob] = {}
        self._seq = 0

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

    def cancel(self, name: str) -> None:
        self._jobs.pop(name, None)

    @property
    def jobs(self) -> dict[str, ScheduledJob]:
        return dict(self._jobs)

    def next_due(self) -> int | None:
        while self._heap and self._heap[0].job.name not in self._jobs:
            heapq.heappop(self._heap)
        return self._heap[0].due if self._heap else None

    def run_due(self, now: int) -> list[tuple[str, int]]:
        """Run every job due at or before ``now``; returns (name, scheduled time) in run order."""
        ran: list[tuple[str, int]] = []
        while (due := self.next_due()) is not None and due <= now:
            entry = heapq.heappop(self._heap)
            job = entry.job
            if self._jobs.get(job.name) is not job:
                continue
            due = entry.due
            if not job.catch_up:
                due += (now - due) // job.interval_ms * job.interval_ms  # latest missed period
            job.fn(due)
            job.runs += 1
            job.last_run = due
            job.next_run = due + job.interval_ms
            ran.append((job.name, due))
            self._push(job)
        return ran

    def _push(self, job: ScheduledJob) -> None:
        heapq.heappush(self._heap, _Entry(job.next_run, job.order, job))

    def describe(self) -> list[str]:
        return [
            f"{j.name}: every {j.interval_ms} ms, next {fmt(j.next_run)}"
            for j in self._jobs.values()
        ]
