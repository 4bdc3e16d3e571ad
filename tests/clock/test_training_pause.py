"""The training workers stopped while a live candle is decided (``clock/pause.py``): a busy
worker is stopped for the block and continued after it however the block ends, an idle one or
one without the kernel's death signal is left alone, and a killed engine leaves no stopped
worker behind."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from quantum_trader.clock import ProcessWorker
from quantum_trader.clock.pause import TrainingPause
from tests.clock.worker_tasks import sleep_for

ROOT = Path(__file__).resolve().parents[2]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGSTOP, /proc")


def _state(pid: int) -> str:
    """The process's state letter (R, S, T for stopped, Z), or "gone"."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return "gone"
    line = next(line for line in status.splitlines() if line.startswith("State:"))
    return line.split()[1]


def _becomes(pid: int, wanted: set[str], within_s: float = 5.0) -> str:
    """Wait until the process is in one of ``wanted`` (a signal is delivered asynchronously)."""
    deadline = time.monotonic() + within_s
    state = _state(pid)
    while state not in wanted and time.monotonic() < deadline:
        time.sleep(0.01)
        state = _state(pid)
    return state


def _busy(worker: ProcessWorker) -> None:
    worker.submit(sleep_for, 30.0)
    deadline = time.monotonic() + 10
    while worker.pausable_pid() is None and time.monotonic() < deadline:
        time.sleep(0.01)


@linux_only
def test_a_busy_worker_is_stopped_for_the_block_and_continued_after() -> None:
    pause, figures = TrainingPause(), dict[str, int]()
    with ProcessWorker("paused") as worker:
        pause.add(worker, figures.__setitem__)
        _busy(worker)
        assert worker.applied is not None and worker.applied.death_signal
        pid = worker.pausable_pid()
        assert pid is not None and pid == worker.pid
        with pause.paused():
            assert _becomes(pid, {"T"}) == "T"
        assert _becomes(pid, {"S", "R"}) in {"S", "R"}
    assert (pause.stats.holds, pause.stats.stops) == (1, 1)
    assert pause.stats.held_ns > 0 and pause.stats.longest_ns == pause.stats.held_ns
    assert figures["training_paused_decisions"] == 1  # the worker's module shows it
    assert figures["training_paused_longest_us"] == pause.stats.held_ns // 1_000


@linux_only
def test_the_worker_is_continued_when_the_decision_raises() -> None:
    pause = TrainingPause()
    with ProcessWorker("raised") as worker:
        pause.add(worker)
        _busy(worker)
        pid = worker.pausable_pid()
        assert pid is not None
        with pytest.raises(RuntimeError, match="decision failed"), pause.paused():
            assert _becomes(pid, {"T"}) == "T"
            raise RuntimeError("decision failed")
        assert _becomes(pid, {"S", "R"}) in {"S", "R"}


def test_an_idle_worker_is_not_stopped() -> None:
    pause = TrainingPause()
    with ProcessWorker("idle") as worker:
        pause.add(worker)
        assert worker.pausable_pid() is None
        assert pause.hold() == ()


@linux_only
def test_a_worker_without_the_death_signal_is_never_stopped() -> None:
    """Started from a thread, the worker has only its watchdog, which a stopped process cannot
    run: stopping it could leave a stopped orphan if the engine died before continuing it."""
    pause, box = TrainingPause(), []
    thread = threading.Thread(target=lambda: box.append(ProcessWorker("threaded")))
    thread.start()
    thread.join()
    worker = box[0]
    starter = threading.Thread(target=worker.start)
    starter.start()
    starter.join()
    try:
        assert worker.applied is not None and not worker.applied.death_signal
        pause.add(worker)
        worker.submit(sleep_for, 30.0)
        time.sleep(0.2)
        assert worker.pausable_pid() is None
        assert pause.hold() == ()
    finally:
        worker.shutdown()


@linux_only
def test_disabled_it_stops_nothing() -> None:
    pause = TrainingPause(enabled=False)
    with ProcessWorker("kept") as worker:
        pause.add(worker)
        _busy(worker)
        assert worker.pausable_pid() is not None
        with pause.paused():
            assert _becomes(worker.pausable_pid() or 0, {"T"}, within_s=0.3) != "T"
    assert pause.stats.holds == 0


ENGINE = r"""
import time
from quantum_trader.clock import ProcessWorker
from quantum_trader.clock.pause import TrainingPause
from tests.clock.worker_tasks import sleep_for

pause = TrainingPause()
worker = ProcessWorker("stopped")
worker.start()
pause.add(worker)
worker.submit(sleep_for, 120.0)
while worker.pausable_pid() is None:
    time.sleep(0.01)
print(pause.hold()[0][0], flush=True)  # stopped, and never continued: the engine dies next
time.sleep(120)
"""


@linux_only
def test_an_engine_killed_while_the_worker_is_stopped_leaves_no_worker_behind() -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    engine = subprocess.Popen(
        [sys.executable, "-c", ENGINE], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert engine.stdout is not None
        pid = int(engine.stdout.readline())
        assert _becomes(pid, {"T"}) == "T"
        engine.kill()
        engine.wait(10)
        assert _becomes(pid, {"gone", "Z"}, within_s=10) in {"gone", "Z"}, (
            f"worker {pid} outlived its killed engine, stopped"
        )
    finally:
        engine.kill()
        engine.wait(10)
