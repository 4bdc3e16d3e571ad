"""Workers for scheduled jobs: a thread, or one spawned process at low CPU priority.

A :class:`ThreadWorker` suits light work that releases the GIL or tests. Anything heavy (a
torch training) goes to a :class:`ProcessWorker`: a spawned process that lowers its own priority
and caps its threads before computing (``clock/worker_process.py``), dies with its parent, and
is terminated on :meth:`ProcessWorker.shutdown` even in the middle of a computation. Its tasks
run one at a time, in submission order; a courier thread of the parent feeds it, so neither
sending large inputs nor waiting for a result ever holds up the engine thread.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any, TypeVar

from quantum_trader.clock.worker_process import (
    AppliedLimits,
    WorkerLimits,
    pool_process,
    serve,
)

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")

#: the thread-count variables math libraries read once, at load: set before the child starts
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
START_TIMEOUT_S = 60.0

_environ_lock = threading.Lock()  # os.environ is process-wide: one spawn edits it at a time


class WorkerError(RuntimeError):
    """A worker could not compute: the computation raised, or the process ended or was stopped."""


class ThreadWorker:
    """One thread, tasks in submission order. Pending tasks are cancelled on shutdown."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def submit(self, fn: Callable[[I], R], arg: I) -> Future[R]:
        return self._pool.submit(fn, arg)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def thread_caps(threads: int) -> Iterator[None]:
    """The math libraries' thread variables set to ``threads`` while a child process starts.

    A spawned child imports numpy (and maybe torch) before any code of ours runs in it (it
    re-imports the parent's main module), so the caps must be in its environment from birth.
    """
    with _environ_lock:
        saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
        os.environ.update({k: str(threads) for k in THREAD_VARIABLES})
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def spawned_pool(processes: int = 1, *, limits: WorkerLimits | None = None) -> ProcessPoolExecutor:
    """A spawned pool whose processes die with their parent, for batch work (the run's
    report, a forecaster's training: one process; a walk-forward's folds). A plain pool's
    process outlived a killed engine (284–572 MB each, issue 22): its initializer is
    ``worker_process.pool_process``, which also applies ``limits``' priority (nice, idle
    class) when given. Submit from the thread that built the pool: the processes are spawned
    at the first submits, and the kernel's death signal follows the spawning thread."""
    main = threading.current_thread() is threading.main_thread()
    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=pool_process,
        initargs=(os.getpid(), main, limits),
    )


class ProcessWorker:
    """One spawned worker process at low priority (see the module docstring).

    >>> worker = ProcessWorker("doc")  # nothing starts until start() (or ``with``)
    >>> worker.pid is None
    True
    """

    def __init__(self, name: str, limits: WorkerLimits | None = None) -> None:
        self.name = name
        self.limits = limits or WorkerLimits()
        self.applied: AppliedLimits | None = None
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._tasks: queue.SimpleQueue[tuple[Future[Any], Callable[[Any], Any], Any] | None]
        self._tasks = queue.SimpleQueue()
        self._courier: threading.Thread | None = None
        self._stopping = False
        self.restarts = 0  # processes spawned again after one died
        self._busy = False  # a computation is in the process
        # wall seconds from spawn to the child's report, of the last (re)start: at idle
        # priority on a saturated machine this nears START_TIMEOUT_S (the app logs it)
        self.start_seconds: float | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def pausable_pid(self) -> int | None:
        """The process to stop while a decision is made (``clock/pause.py``): only while it
        computes, and only one the kernel kills with the engine even when stopped (its death
        signal armed; a process respawned by the courier has only its watchdog)."""
        applied, process = self.applied, self._process
        if not self._busy or applied is None or not applied.death_signal or process is None:
            return None
        return applied.pid if applied.pid == process.pid else None

    def pausable_pids(self) -> tuple[int, ...]:
        """:meth:`pausable_pid` as the pause asks for it (``clock/pause.Pausable``)."""
        pid = self.pausable_pid()
        return () if pid is None else (pid,)

    def start(self) -> AppliedLimits:
        """Spawn the process and wait until it has lowered itself; returns what it applied."""
        if self._process is not None:
            raise RuntimeError(f"worker {self.name!r} is already started")
        applied = self._spawn()
        self._courier = threading.Thread(
            target=self._carry, name=f"courier-{self.name}", daemon=True
        )
        self._courier.start()
        return applied

    def _spawn(self) -> AppliedLimits:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        # the kernel's death signal follows the spawning thread: only the main thread's is
        # set (a respawn from the courier relies on the child's watchdog of its parent)
        main = threading.current_thread() is threading.main_thread()
        process = context.Process(
            target=serve,
            args=(child, os.getpid(), self.limits, main),
            name=f"worker-{self.name}",
            daemon=True,  # also ended by multiprocessing when the parent exits normally
        )
        spawned = time.monotonic()
        with thread_caps(self.limits.threads):
            process.start()
        child.close()
        self._process, self._conn = process, parent
        if not parent.poll(START_TIMEOUT_S):
            self.shutdown()
            raise WorkerError(f"worker {self.name!r} did not start within {START_TIMEOUT_S} s")
        try:
            applied = parent.recv()
        except EOFError as exc:
            self.shutdown()
            raise WorkerError(
                f"worker {self.name!r} ended while starting (exit code {process.exitcode})"
            ) from exc
        assert isinstance(applied, AppliedLimits)
        self.start_seconds = time.monotonic() - spawned
        self.applied = applied
        return applied

    def submit(self, fn: Callable[[I], R], arg: I) -> Future[R]:
        """Queue ``fn(arg)``; ``fn`` must be importable by name (a module-level function)."""
        if self._courier is None or self._stopping:
            raise WorkerError(f"worker {self.name!r} is not running (start it first)")
        future: Future[R] = Future()
        self._tasks.put((future, fn, arg))
        return future

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Cancel queued tasks and end the process now, even mid-computation."""
        self._stopping = True
        for future in self._take_queued():
            future.cancel()
        self._tasks.put(None)
        idle = not self._busy
        if idle and self._courier is not None and self._courier is not threading.current_thread():
            # the courier tells an idle process to end: it exits on its own, releasing what
            # it holds (a terminated one leaves its semaphores to the resource tracker)
            self._courier.join(timeout_s)
            if self._process is not None:
                self._process.join(timeout_s)
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout_s)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout_s)
        if self._courier is not None and self._courier is not threading.current_thread():
            self._courier.join(timeout_s)
        if self._conn is not None:
            self._conn.close()

    def __enter__(self) -> ProcessWorker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def _carry(self) -> None:
        """The courier: one task at a time to the process and its reply back to its future."""
        conn = self._conn
        assert conn is not None
        while (item := self._tasks.get()) is not None:
            future, fn, arg = item
            if not future.set_running_or_notify_cancel():
                continue
            self._busy = True
            try:
                conn.send((fn, arg))
                kind, value = conn.recv()
            except (EOFError, OSError) as exc:
                self._busy = False
                future.set_exception(self._ended(exc))
                # the process died (killed, out of memory, a crash in native code): that task
                # is lost; the next ones get a new process instead of failing one by one
                respawned = self._respawn()
                if respawned is None:
                    return
                conn = respawned
                continue
            except Exception as exc:  # the inputs could not be sent (e.g. not picklable)
                self._busy = False
                future.set_exception(WorkerError(f"worker {self.name!r}: {exc}"))
                continue
            self._busy = False
            if kind == "ok":
                future.set_result(value)
            else:
                future.set_exception(WorkerError(f"worker {self.name!r}: {value}"))
        with contextlib.suppress(OSError, ValueError):
            conn.send(None)  # stopping: the process's loop ends and it exits on its own

    def _respawn(self) -> Connection | None:
        """A new process after the last one died; None while shutting down or if it fails."""
        if self._stopping:
            return None
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.join(1.0)
        try:
            self._spawn()
        except WorkerError:
            self._fail_queued(f"worker {self.name!r} died and could not be started again")
            return None
        self.restarts += 1
        return self._conn

    def _fail_queued(self, why: str) -> None:
        self._stopping = True
        for future in self._take_queued():
            if future.set_running_or_notify_cancel():
                future.set_exception(WorkerError(why))

    def _take_queued(self) -> list[Future[Any]]:
        """Empty the queue of tasks not yet sent; their futures."""
        futures: list[Future[Any]] = []
        while True:
            try:
                item = self._tasks.get_nowait()
            except queue.Empty:
                return futures
            if item is not None:
                futures.append(item[0])

    def _ended(self, exc: BaseException) -> WorkerError:
        if self._stopping:
            return WorkerError(f"worker {self.name!r} was shut down during the computation")
        code = self._process.exitcode if self._process is not None else None
        return WorkerError(
            f"worker {self.name!r} (pid {self.pid}) ended during the computation "
            f"(exit code {code}): {type(exc).__name__}"
        )
