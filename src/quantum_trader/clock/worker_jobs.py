"""Scheduled jobs whose heavy middle runs in a worker, with the result landing at an engine time.

A retraining must not freeze the engine, yet a replay must stay deterministic. So a worker job
is split in three (:class:`WorkerTask`):

1. ``prepare(t)`` runs inline on the engine thread at the job's due time ``t`` and captures its
   inputs as plain data (nothing the engine goes on mutating);
2. ``compute(inputs)`` runs in a :class:`Worker` (a thread, or a spawned low-priority process:
   ``clock/workers.py``) while the engine goes on;
3. ``apply(result, landed_at)`` runs on the engine thread at the declared engine time
   ``landed_at = t + delay_ms``.

A task whose inputs are a list of independent items (a check's trainings, one per line) says
so with ``each=True``: ``compute`` then runs once per item, each item submitted on its own
(:func:`fan_out`), so a worker with several processes (``clock/worker_group.py``) or Ray runs
them side by side, and ``apply`` gets the list of results in the items' order. Which process
computed an item does not change its result, so a replay stays deterministic.

On replay time (:func:`~quantum_trader.clock.clock.is_simulated`) the engine, on reaching
``t + delay_ms``, waits for the result if it is not ready: it lands at the same simulated moment
every run, however slow the worker. On wall time nothing waits: the result lands at the first
``run_due`` at or after ``t + delay_ms`` at which it is ready, and a run that falls due while the
previous result is still out is skipped (counted in :attr:`WorkerJobStats.skipped`), so slow
retrainings do not pile up.

**Failures are never lost.** A computation that raised (or a worker that died or was shut down)
becomes a :class:`WorkerJobError` at landing time, naming the job and both times, chained to the
worker's error; it is counted in :attr:`WorkerJobStats.failed`, then handed to the job's
``on_error`` (which may log it and count it on a status handle, and the engine goes on) or,
without one, raised from ``run_due`` (the run stops, loudly). ``apply`` is not called.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from quantum_trader.domain.time import fmt

I = TypeVar("I")  # noqa: E741 - the inputs prepare captures
R = TypeVar("R")


class Worker(Protocol):
    """Where a computation runs: ``submit(fn, arg)`` starts ``fn(arg)`` and returns at once."""

    def submit(self, fn: Callable[[I], R], arg: I) -> Future[R]: ...

    def shutdown(self) -> None: ...


@dataclass(frozen=True, slots=True)
class WorkerTask(Generic[I, R]):
    """The three steps of a worker job (see the module docstring).

    For a process worker, ``compute`` must be a module-level function and ``inputs`` and the
    result plain data: they travel between processes (pickled in transit, never stored).
    With ``each``, ``prepare`` returns a list, ``compute`` takes one of its items and ``apply``
    the list of their results (``I`` and ``R`` are then the lists).
    """

    prepare: Callable[[int], I]
    compute: Callable[[Any], Any]
    apply: Callable[[R, int], object]
    each: bool = False


class WorkerCancelled(RuntimeError):
    """An item of a fanned-out computation was cancelled (its worker shut down)."""


def fan_out(worker: Worker, fn: Callable[[I], R], items: Sequence[I]) -> Future[list[R]]:
    """``fn`` on every item, each submitted to ``worker`` on its own: one future of the results
    in the items' order. It fails with the first failed item's error (in the items' order)
    once every item is done; cancelling it cancels the items not started."""
    combined: Future[list[R]] = Future()
    parts = [worker.submit(fn, item) for item in items]
    if not parts:
        combined.set_result([])
        return combined
    lock, remaining = threading.Lock(), [len(parts)]

    def settle(_: Future[R]) -> None:
        with lock:
            remaining[0] -= 1
            if remaining[0] or not combined.set_running_or_notify_cancel():
                return
        for part in parts:
            if part.cancelled():
                combined.set_exception(WorkerCancelled("an item was cancelled (worker shut down)"))
                return
            if (error := part.exception()) is not None:
                combined.set_exception(error)
                return
        combined.set_result([part.result() for part in parts])

    def cancel_parts(done: Future[list[R]]) -> None:
        if done.cancelled():
            for part in parts:
                part.cancel()

    combined.add_done_callback(cancel_parts)
    for part in parts:
        part.add_done_callback(settle)
    return combined


class WorkerJobError(RuntimeError):
    """A worker job's computation failed; raised (or handed to ``on_error``) at landing time."""

    def __init__(self, job: str, ran_at: int, lands_at: int, cause: BaseException) -> None:
        super().__init__(
            f"worker job {job!r}: the computation started at {fmt(ran_at)} (to land at "
            f"{fmt(lands_at)}) failed: {type(cause).__name__}: {cause}"
        )
        self.job = job
        self.ran_at = ran_at
        self.lands_at = lands_at


@dataclass(slots=True)
class WorkerJobStats:
    """What a worker job did: evidence for its module status."""

    submitted: int = 0
    landed: int = 0
    failed: int = 0
    skipped: int = 0  # wall time only: due while the previous result was still out
    last_landed: int | None = None


@dataclass(slots=True)
class Landing:
    """One computation in flight: started at ``ran_at``, to land at ``lands_at``."""

    ran_at: int
    lands_at: int
    future: Future[Any]
    #: wall time (``time.time()``) it was handed to the worker: what it writes is newer
    handed_at: float = 0.0


class WorkerJob(Generic[I, R]):
    """The scheduler's side of one worker job: starts computations and lands their results."""

    def __init__(
        self,
        name: str,
        task: WorkerTask[I, R],
        worker: Worker,
        delay_ms: int,
        on_error: Callable[[WorkerJobError], object] | None,
    ) -> None:
        self.name = name
        self.task = task
        self.worker = worker
        self.delay_ms = delay_ms
        self.on_error = on_error
        self.stats = WorkerJobStats()
        self.pending: Landing | None = None

    def start(self, t: int) -> Landing | None:
        """Prepare inline and hand the computation to the worker; ``None`` when skipped."""
        if self.pending is not None:
            self.stats.skipped += 1
            return None
        inputs = self.task.prepare(t)
        if self.task.each:
            items = cast(Sequence[Any], inputs)  # each=True: prepare returned a list
            future: Future[Any] = fan_out(self.worker, self.task.compute, items)
        else:
            future = self.worker.submit(self.task.compute, inputs)
        self.pending = Landing(t, t + self.delay_ms, future, time.time())
        self.stats.submitted += 1
        return self.pending

    def land(self, landing: Landing, *, wait: bool) -> bool:
        """Apply the result (waiting for it when ``wait``); False when not ready yet."""
        if not wait and not landing.future.done():
            return False
        self.pending = None
        try:
            result = landing.future.result()
        except Exception as exc:  # the worker's failure, surfaced on the engine thread
            self.stats.failed += 1
            error = WorkerJobError(self.name, landing.ran_at, landing.lands_at, exc)
            if self.on_error is None:
                raise error from exc
            error.__cause__ = exc
            self.on_error(error)
            return True
        self.task.apply(result, landing.lands_at)
        self.stats.landed += 1
        self.stats.last_landed = landing.lands_at
        return True

    def cancel(self) -> None:
        """Drop the computation in flight (a queued one does not start)."""
        if self.pending is not None:
            self.pending.future.cancel()
            self.pending = None
