"""The worker process: low priority and capped threads inside it, stopped on demand, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quantum_trader.clock import ProcessWorker, WorkerError, WorkerLimits
from quantum_trader.clock.workers import THREAD_VARIABLES
from tests.clock.worker_tasks import sleep_for, slow_sum, what_the_worker_sees

ROOT = Path(__file__).resolve().parents[2]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux scheduling")


@linux_only
def test_the_worker_runs_at_idle_priority_with_one_thread_even_for_torch() -> None:
    parent_nice = os.getpriority(os.PRIO_PROCESS, 0)
    caps_before = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    with ProcessWorker("limits") as worker:
        seen = worker.submit(what_the_worker_sees, None).result(120)
        assert worker.applied is not None and worker.applied.pid == worker.pid
        assert worker.applied.idle_class and worker.applied.watchdog
    assert seen["nice"] == min(19, parent_nice + 19)
    assert seen["idle"] is True
    assert seen["omp"] == "1" and seen["openblas"] == "1"
    assert seen["torch_threads"] == 1
    assert {k: os.environ.get(k) for k in THREAD_VARIABLES} == caps_before  # no leak to us


def test_the_worker_records_how_long_it_took_to_start() -> None:
    before = time.monotonic()
    with ProcessWorker("timed") as worker:
        took = time.monotonic() - before
        assert worker.start_seconds is not None
        assert 0 < worker.start_seconds <= took  # from the spawn to the child's report


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match=r"nice=20 must be in \[0, 19\]"):
        WorkerLimits(nice=20)


def test_shutdown_ends_a_computation_in_flight_and_cancels_the_queue() -> None:
    worker = ProcessWorker("stop")
    worker.start()
    running = worker.submit(sleep_for, 60.0)
    queued = worker.submit(sleep_for, 60.0)
    time.sleep(0.3)
    started = time.perf_counter()
    worker.shutdown()
    assert time.perf_counter() - started < 5
    with pytest.raises(WorkerError, match="shut down during the computation"):
        running.result(5)
    assert queued.cancelled()
    with pytest.raises(WorkerError, match="not running"):
        worker.submit(sleep_for, 1.0)


def test_a_worker_that_dies_fails_its_computation_loudly() -> None:
    with ProcessWorker("dies") as worker:
        running = worker.submit(sleep_for, 60.0)
        time.sleep(0.3)
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(WorkerError, match=r"ended during the computation \(exit code"):
            running.result(10)


def test_the_tasks_after_a_dead_worker_run_in_a_new_one() -> None:
    """A worker killed (out of memory, a crash in native code) fails the computation it was
    running, and only that one: the queued task and later ones get a new process (a one-year
    replay counted 390 failed trainings when the first death broke every later one)."""
    with ProcessWorker("respawns") as worker:
        first_pid = worker.pid
        assert first_pid is not None
        running = worker.submit(sleep_for, 60.0)
        queued = worker.submit(slow_sum, (1.0, 2.0, 3.0))
        time.sleep(0.3)
        os.kill(first_pid, signal.SIGKILL)
        with pytest.raises(WorkerError, match="ended during the computation"):
            running.result(10)
        assert queued.result(30) == pytest.approx(6.0)
        assert worker.submit(slow_sum, (4.0,)).result(30) == pytest.approx(4.0)
        assert worker.restarts == 1 and worker.pid not in (None, first_pid)
        assert worker.applied is not None and worker.applied.nice > 0


PARENT = r"""
import sys, threading, time
from quantum_trader.clock import ProcessWorker
from tests.clock.worker_tasks import sleep_for

def start():
    worker = ProcessWorker("orphan")
    worker.start()
    worker.submit(sleep_for, 120.0)
    print(worker.pid, worker.applied.death_signal, flush=True)

if sys.argv[1] == "thread":  # no death signal then: the watchdog alone must end the worker
    threading.Thread(target=start).start()
else:
    start()
time.sleep(120)
"""


@linux_only
@pytest.mark.parametrize("started_from", ["main", "thread"])
def test_a_killed_parent_leaves_no_worker_behind(started_from: str) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, started_from],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        pid_text, death_signal = parent.stdout.readline().split()
        assert death_signal == ("True" if started_from == "main" else "False")
        pid = int(pid_text)
        assert _alive(pid)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), f"worker {pid} outlived its killed parent"
    finally:
        parent.kill()
        parent.wait(10)


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for a reaper that may never come in a container."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "Z" not in state.split()[1]


def test_inputs_that_cannot_travel_fail_that_computation_only() -> None:
    with ProcessWorker("pickle") as worker:
        bad = worker.submit(sleep_for, lambda: 1.0)  # type: ignore[arg-type]
        with pytest.raises(WorkerError, match=r"worker 'pickle': .*pickle"):
            bad.result(10)
        assert worker.submit(sleep_for, 0.0).result(10) == 0.0  # the worker goes on


def test_an_idle_worker_ends_on_its_own_at_shutdown() -> None:
    """Told to stop, not terminated: a terminated process leaves what it holds (semaphores of
    the libraries it loaded) to the resource tracker, which warns of leaks at exit."""
    worker = ProcessWorker("ends")
    worker.start()
    assert worker.submit(slow_sum, (1.0,)).result(30) == pytest.approx(1.0)
    process = worker._process
    worker.shutdown()
    assert process is not None and process.exitcode == 0


def test_a_busy_worker_is_still_ended_at_once() -> None:
    worker = ProcessWorker("busy")
    worker.start()
    running = worker.submit(sleep_for, 60.0)
    time.sleep(0.3)
    started = time.perf_counter()
    worker.shutdown()
    assert time.perf_counter() - started < 5.0
    assert worker._process is not None and worker._process.exitcode != 0
    with pytest.raises(WorkerError):
        running.result(5)
