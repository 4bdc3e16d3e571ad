"""The inside of a worker process: yield the CPU to the engine, die with the parent, serve.

On these 2 cores a torch training at normal priority beside the engine took the decision p99
from 4 to 10.6 ms. A worker therefore lowers itself before it computes anything: every thread
gets the nice increment and (Linux) the ``SCHED_IDLE`` class, and math libraries run one
thread (their thread counts come from the environment the parent spawned us with,
``workers.thread_caps``; torch is capped again before each task, since a task may import it).
The process must not outlive the engine: ``PR_SET_PDEATHSIG`` (Linux; the kernel kills us when
the spawning thread ends, so it is only asked for when the main thread spawned us) and, always,
a watchdog thread that exits when the parent pid changes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCHDOG_PERIOD_S = 0.5


@dataclass(frozen=True, slots=True)
class WorkerLimits:
    """How a worker process yields the CPU to the engine's decision path.

    ``nice``: added to the inherited niceness (capped at 19); ``idle_class``: the Linux
    ``SCHED_IDLE`` scheduling class (the worker gets a core only when nothing else wants it,
    about 1/5 of nice 19's weight); ``threads``: OpenMP/MKL/OpenBLAS/numexpr/torch threads;
    ``die_with_parent``: no orphan survives a killed engine.
    """

    nice: int = 19
    idle_class: bool = True
    threads: int = 1
    die_with_parent: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.nice <= 19 or self.threads < 1:
            raise ValueError(
                f"WorkerLimits: nice={self.nice} must be in [0, 19] and threads={self.threads} >= 1"
            )


@dataclass(frozen=True, slots=True)
class AppliedLimits:
    """What the worker process reports it applied (evidence, not intent)."""

    pid: int
    nice: int
    idle_class: bool
    threads_env: str  # OMP_NUM_THREADS as the process saw it at start
    death_signal: bool
    watchdog: bool


def serve(conn: Connection, parent_pid: int, limits: WorkerLimits, main_thread: bool) -> None:
    """The worker's main loop: ``(fn, arg)`` in, ``("ok", result)`` or ``("error", text)`` out."""
    applied = _apply(limits, parent_pid, main_thread)
    conn.send(applied)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        fn, arg = message
        reply = _call(fn, arg, limits.threads)
        try:
            conn.send(reply)
        except Exception as exc:  # a result that cannot travel is a failure, not a dead worker
            conn.send(("error", f"the result could not be sent back: {type(exc).__name__}: {exc}"))


def _call(fn: Callable[[Any], Any], arg: Any, threads: int) -> tuple[str, Any]:
    _cap_torch(threads)
    try:
        return ("ok", fn(arg))
    except Exception as exc:  # sent to the parent, raised there at landing time
        return ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")


def _apply(limits: WorkerLimits, parent_pid: int, main_thread: bool) -> AppliedLimits:
    _lower_priority(limits)
    death_signal = limits.die_with_parent and die_with_parent(parent_pid, main_thread)
    _cap_torch(limits.threads)
    idle = getattr(os, "SCHED_IDLE", None)
    return AppliedLimits(
        pid=os.getpid(),
        nice=os.getpriority(os.PRIO_PROCESS, 0),
        idle_class=idle is not None and os.sched_getscheduler(0) == idle,
        threads_env=os.environ.get("OMP_NUM_THREADS", ""),
        death_signal=death_signal,
        watchdog=limits.die_with_parent,
    )


def die_with_parent(parent_pid: int, main_thread: bool) -> bool:
    """End this process when ``parent_pid`` dies: the kernel's death signal when the parent's
    main thread spawned us (``main_thread``), and always a watchdog thread. Returns whether
    the death signal was set."""
    death_signal = main_thread and _set_death_signal()
    if os.getppid() != parent_pid:  # the parent died before we could watch it
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="parent-watchdog", daemon=True
    ).start()
    return death_signal


def pool_process(parent_pid: int, main_thread: bool, limits: WorkerLimits | None) -> None:
    """A spawned pool process's start (``workers.spawned_pool``): the priority of ``limits``
    (none: the parent's), then die with the parent."""
    if limits is not None:
        _lower_priority(limits)
    die_with_parent(parent_pid, main_thread)


def _lower_priority(limits: WorkerLimits) -> None:
    """Nice and idle-class every thread of this process (on Linux both are per thread)."""
    tasks = Path("/proc/self/task")
    tids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    idle = getattr(os, "SCHED_IDLE", None)
    for tid in tids:
        if limits.nice:
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, current + limits.nice))
        if limits.idle_class and idle is not None:
            os.sched_setscheduler(tid, idle, os.sched_param(0))


def _set_death_signal() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_PERIOD_S)
    os._exit(1)


def _cap_torch(threads: int) -> None:
    """torch reads OMP_NUM_THREADS at import, but a task may have raised it since."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
