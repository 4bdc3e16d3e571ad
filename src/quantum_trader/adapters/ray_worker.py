"""The training backend on Ray: a :class:`~quantum_trader.clock.worker_jobs.Worker` whose
computations are Ray tasks, on a local Ray started here or on a cluster (``address``).

Ray is an optional extra (``pip install '.[ray]'``) and is imported only in this module, and
only when a worker starts. It runs the same module-level computations as the process worker
(``clock/workers.py``), with the same contract (``tests/clock/test_worker_contract.py``): a
computation that raised, a Ray worker that died or a cancelled task becomes a
:class:`~quantum_trader.clock.workers.WorkerError` naming the worker, which is what
``clock/worker_jobs.py`` turns into a ``WorkerJobError`` at landing time.

Two differences from the process worker, both by design: tasks run concurrently (as many as
the cluster has CPUs for, one CPU each; Ray then caps the math libraries at one thread), so a
computation must not count on the tasks before it having run; and a task sees the
environment the worker was started with plus ``env`` (the driver's settings, so that a task
that reads its settings reads the driver's, on this machine or on a cluster).

Ray's runtime is one per process. A worker that finds Ray running joins it and leaves it
running; the first worker that starts it here shares it with the workers started after it,
and the last of them to shut down stops it (``_LocalRay``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

from quantum_trader.clock.workers import WorkerError

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")

#: a local Ray runs no dashboard (about 110 MB, and a port) and one CPU per task
LOCAL_INIT: Mapping[str, Any] = {"include_dashboard": False, "log_to_driver": False}


def _run(fn: Callable[[Any], Any], arg: Any, nice: int) -> Any:
    """The task: lower the priority of the Ray worker's thread that runs it (a local Ray
    shares the engine's cores), then ``fn(arg)``. At ``nice`` 19 it also takes the idle class,
    as the process worker does: the processes a task starts (a fold's main job starts its
    own workers, in that class) then share the CPU with it instead of starving behind it."""
    if nice and os.getpriority(os.PRIO_PROCESS, 0) < nice:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    idle = getattr(os, "SCHED_IDLE", None)
    if nice == 19 and idle is not None and os.sched_getscheduler(0) != idle:
        os.sched_setscheduler(0, idle, os.sched_param(0))
    return fn(arg)


class _LocalRay:
    """Who started the Ray runtime of this process, and how many workers use it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0  # workers using a Ray that one of them started

    def join(self, ray: Any, address: str | None, num_cpus: int | None) -> bool:
        """Make sure Ray runs; True when the caller must :meth:`leave` it on shutdown."""
        with self.lock:
            if self.users == 0 and ray.is_initialized():
                return False  # someone else's Ray (a test's, an application's): leave it be
            if self.users == 0:
                if address:
                    ray.init(address=address, log_to_driver=False)
                else:
                    ray.init(num_cpus=num_cpus, **LOCAL_INIT)
            self.users += 1
            return True

    def leave(self, ray: Any) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0:
                ray.shutdown()


# Ray's runtime is global to the process; so is the count of the workers sharing it
_LOCAL_RAY = _LocalRay()


def import_ray() -> Any:
    """The ``ray`` module, or ImportError with the install command."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            "the Ray training backend needs Ray: pip install '.[ray]' (or pip install 'ray>=2.9')"
        ) from exc
    return ray


class RayWorker:
    """Computations as Ray tasks (see the module docstring).

    ``address``: a Ray cluster's (``ray://host:10001`` or ``host:6379``); ``None`` starts a
    local Ray of ``num_cpus`` CPUs (default: all of them) unless one is running. ``env``:
    variables every task sees (the driver's settings). ``nice``: the niceness the
    thread running a task lowers itself to (19, with the idle class: the engine goes first).

    >>> worker = RayWorker("doc")  # nothing starts (nor is Ray imported) until start()
    >>> worker.running
    False
    """

    def __init__(
        self,
        name: str,
        *,
        address: str | None = None,
        num_cpus: int | None = None,
        env: Mapping[str, str] | None = None,
        nice: int = 19,
    ) -> None:
        if not 0 <= nice <= 19:
            raise ValueError(f"RayWorker {name!r}: nice={nice} must be in [0, 19]")
        self.name = name
        self.address = address or None
        self.num_cpus = num_cpus
        self.env = dict(env or {})
        self.nice = nice
        self._ray: Any = None
        self._remote: Any = None
        self._owns = False
        self._lock = threading.Lock()
        self._refs: dict[Future[Any], Any] = {}  # futures not yet done → their ObjectRef
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._remote is not None and not self._stopping

    def start(self) -> None:
        """Start (or join) Ray; ImportError naming the extra when Ray is not installed."""
        if self._remote is not None:
            raise RuntimeError(f"worker {self.name!r} is already started")
        ray = import_ray()
        self._owns = _LOCAL_RAY.join(ray, self.address, self.num_cpus)
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": 0}
        if self.env:
            options["runtime_env"] = {"env_vars": self.env}
        self._ray = ray
        self._remote = ray.remote(_run).options(**options)

    def submit(self, fn: Callable[[I], R], arg: I) -> Future[R]:
        """Start ``fn(arg)`` as a Ray task; ``fn`` must be importable by name where it runs."""
        if not self.running:
            raise WorkerError(f"worker {self.name!r} is not running (start it first)")
        future: Future[R] = Future()
        try:
            ref = self._remote.remote(fn, arg, self.nice)
        except Exception as exc:  # the inputs could not be serialised
            future.set_running_or_notify_cancel()
            future.set_exception(WorkerError(f"worker {self.name!r}: {exc}"))
            return future
        with self._lock:
            self._refs[future] = ref
        future.add_done_callback(self._cancelled)
        ref.future().add_done_callback(lambda done: self._relay(done, future))
        return future

    def shutdown(self) -> None:
        """Cancel the tasks not done (their futures are cancelled) and leave Ray."""
        if self._stopping:
            return
        self._stopping = True
        with self._lock:
            pending = list(self._refs)
        for future in pending:
            future.cancel()
        if self._owns:
            _LOCAL_RAY.leave(self._ray)
            self._owns = False

    def _relay(self, done: Future[Any], future: Future[Any]) -> None:
        """Ray's outcome onto the worker's future, errors as WorkerError."""
        with self._lock:
            self._refs.pop(future, None)
        if not future.set_running_or_notify_cancel():
            return  # cancelled meanwhile
        try:
            result = done.result()
        except BaseException as exc:  # every failure becomes the worker's
            future.set_exception(self._error(exc))
            return
        future.set_result(result)

    def _cancelled(self, future: Future[Any]) -> None:
        if not future.cancelled():
            return
        with self._lock:
            ref = self._refs.pop(future, None)
        if ref is not None and self._ray is not None:
            # the task may have ended meanwhile, or Ray stopped
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)

    def _error(self, exc: BaseException) -> WorkerError:
        cause = getattr(exc, "cause", None)  # a RayTaskError carries the task's exception
        if isinstance(cause, BaseException):
            error = WorkerError(f"worker {self.name!r}: {type(cause).__name__}: {cause}")
            error.__cause__ = exc
            return error
        if self._stopping:
            return WorkerError(f"worker {self.name!r} was shut down during the computation")
        error = WorkerError(f"worker {self.name!r}: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error
