"""Several training processes side by side: a :class:`WorkerGroup` of :class:`ProcessWorker`.

A check of the learning daemon can ask for six trainings at once (the weekly schedule comes
round for every line together); one process fits them one after the other while a replay
waits at their landing with the other core idle. A group of ``processes`` workers runs a task
fanned out item by item (``WorkerTask(each=True)``, ``clock/worker_jobs.py``) on all of them:
each task goes to the member with the fewest tasks out (the first such member on a tie), so a
batch is dealt round the members in its order. Every member is a plain
:class:`~quantum_trader.clock.workers.ProcessWorker`: low priority, one math thread, dying
with the engine, a new process after a death, and stopped during live decisions
(:meth:`WorkerGroup.pausable_pids`, ``clock/pause.py``).

>>> WorkerGroup("doc", 0)
Traceback (most recent call last):
...
ValueError: worker group 'doc': processes=0 must be >= 1
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import TypeVar

from quantum_trader.clock.worker_process import AppliedLimits, WorkerLimits
from quantum_trader.clock.workers import ProcessWorker

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")


class WorkerGroup:
    """``processes`` :class:`ProcessWorker` members named ``name-1`` … (just ``name`` for one)."""

    def __init__(self, name: str, processes: int, limits: WorkerLimits | None = None) -> None:
        if processes < 1:
            raise ValueError(f"worker group {name!r}: processes={processes} must be >= 1")
        self.name = name
        names = [name] if processes == 1 else [f"{name}-{i + 1}" for i in range(processes)]
        self.members = [ProcessWorker(n, limits) for n in names]
        self._out = [0] * processes  # tasks submitted to each member and not done
        self._lock = threading.Lock()

    def start(self) -> list[AppliedLimits]:
        """Start every member; what each applied."""
        return [member.start() for member in self.members]

    def submit(self, fn: Callable[[I], R], arg: I) -> Future[R]:
        with self._lock:
            index = min(range(len(self.members)), key=lambda i: (self._out[i], i))
            self._out[index] += 1
        try:
            future = self.members[index].submit(fn, arg)
        except BaseException:
            self._settled(index)
            raise
        future.add_done_callback(lambda _: self._settled(index))
        return future

    def _settled(self, index: int) -> None:
        with self._lock:
            self._out[index] -= 1

    def pausable_pids(self) -> tuple[int, ...]:
        """The members' processes to stop during a live decision (those computing)."""
        pids = (member.pausable_pid() for member in self.members)
        return tuple(pid for pid in pids if pid is not None)

    def shutdown(self) -> None:
        for member in self.members:
            member.shutdown()

    def __enter__(self) -> WorkerGroup:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()
