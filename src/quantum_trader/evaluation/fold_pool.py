"""The local pool of a walk-forward's folds: spawned processes that run folds side by side.

``app/training_backend.py`` hands it to :func:`~quantum_trader.evaluation.system.evaluate_variants`
when the training backend is ``process`` (Ray's counterpart is ``adapters/ray_worker.py``);
it implements the worker port (``clock/worker_jobs.py``) and passes its contract
(``tests/clock/test_worker_contract.py``).

>>> ProcessPool("doc", 0)
Traceback (most recent call last):
...
ValueError: process pool 'doc': processes=0 must be >= 1
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

from quantum_trader.clock.worker_process import WorkerLimits
from quantum_trader.clock.workers import WorkerError, spawned_pool, thread_caps

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")


#: a pool process's priority: nice 19 and the idle class, as the workers a fold's main job
#: spawns in turn (``clock/worker_process.py``), which would otherwise get no CPU while the
#: folds run whenever a replay waits for them (the idle class yields to every normal one)
FOLD_LIMITS = WorkerLimits(nice=19, idle_class=True)


class ProcessPool:
    """``processes`` spawned processes that die with this one, tasks side by side: the local
    backend of a walk-forward's folds.

    Not a pool of :class:`ProcessWorker`: its processes are daemons, and a daemon may not
    start processes, which a fold's main job does (its continuous learning's worker). Like
    them, these processes yield the CPU (:data:`FOLD_LIMITS`) and run the math libraries on
    one thread each (``workers.thread_caps``; the models pin their own counts). Submit from
    the thread that started the pool (the kernel's death signal follows the spawning thread).
    """

    def __init__(self, name: str, processes: int) -> None:
        if processes < 1:
            raise ValueError(f"process pool {name!r}: processes={processes} must be >= 1")
        self.name = name
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._stopped = False

    def start(self) -> None:
        if self._pool is not None:
            raise RuntimeError(f"process pool {self.name!r} is already started")
        self._pool = spawned_pool(self.processes, limits=FOLD_LIMITS)

    def submit(self, fn: Callable[[I], R], arg: I) -> Future[R]:
        if self._pool is None or self._stopped:
            raise WorkerError(f"process pool {self.name!r} is not running (start it first)")
        with thread_caps(1):  # a process spawned by this submit gets them from birth
            return self._pool.submit(fn, arg)

    def shutdown(self) -> None:
        """Cancel the tasks not started; those running finish, then the processes end."""
        self._stopped = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
