"""Worker jobs on the engine clock: where results land, what never blocks, order, failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from quantum_trader.clock import (
    ProcessWorker,
    ReplayThenWallClock,
    Scheduler,
    SimulatedClock,
    ThreadWorker,
    WorkerError,
    WorkerJobError,
    WorkerTask,
)
from quantum_trader.domain.time import MS_PER_MINUTE
from tests.clock.worker_tasks import fail, replay_hourly_job, slow_sum

M = MS_PER_MINUTE
HOUR = 60 * M


class Wall:
    """A wall clock the test moves by hand."""

    def __init__(self, t: int) -> None:
        self.t = t

    def now(self) -> int:
        return self.t


@pytest.mark.parametrize("make", [lambda: ThreadWorker("t"), lambda: ProcessWorker("p")])
def test_replay_lands_each_result_at_its_declared_time_however_slow_the_worker(
    make: Callable[[], ThreadWorker | ProcessWorker],
) -> None:
    runs = []
    for _ in range(2):
        worker = make()
        if isinstance(worker, ProcessWorker):
            worker.start()
        try:
            runs.append(replay_hourly_job(worker, hours=12))
        finally:
            worker.shutdown()
    first, second = runs
    assert first == second  # the worker's random pauses change nothing
    assert [(now, at) for now, at, _ in first] == [(h * HOUR + 10 * M,) * 2 for h in range(12)]
    # each run's inputs include the previous result: the chain only matches if every result
    # landed before the next run prepared
    assert first[2][2] == first[1][2] + 2 * HOUR


def test_wall_time_never_waits_and_lands_at_the_first_run_due_once_ready() -> None:
    wall = Wall(0)
    sched = Scheduler(wall)
    gate = threading.Event()
    landed: list[tuple[int, int]] = []

    def compute(x: int) -> int:
        gate.wait(10)
        return x + 1

    task = WorkerTask(lambda t: t, compute, lambda r, at: landed.append((wall.t, at)))
    worker = ThreadWorker("w")
    job = sched.every_in_worker("retrain", HOUR, task, worker=worker, delay_ms=10 * M, start_at=0)
    try:
        sched.run_due(0)
        wall.t = 30 * M  # past the landing time, result not ready
        started = time.perf_counter()
        assert sched.run_due(wall.t) == []
        assert time.perf_counter() - started < 0.5
        assert sched.next_due() == 10 * M  # asked again at the next run_due
        wall.t = HOUR  # the next run falls due while the result is still out: skipped
        assert sched.run_due(wall.t) == [("retrain", HOUR)]
        assert job.worker is not None and job.worker.stats.skipped == 1
        gate.set()
        job.worker.pending.future.result(5)  # type: ignore[union-attr]
        wall.t = HOUR + M
        assert sched.run_due(wall.t) == [("retrain:landed", 10 * M)]
        assert landed == [(HOUR + M, 10 * M)]  # applied late, at the declared time's label
    finally:
        worker.shutdown()


def test_replay_then_wall_clock_waits_only_before_going_live() -> None:
    wall = Wall(100 * HOUR)
    clock = ReplayThenWallClock(0, wall)
    sched = Scheduler(clock)
    gate = threading.Event()
    task = WorkerTask(lambda t: t, lambda x: gate.wait(10) and x, lambda r, at: None)
    worker = ThreadWorker("w")
    sched.every_in_worker(
        "retrain", HOUR, task, worker=worker, delay_ms=0, start_at=0, catch_up=False
    )
    try:
        threading.Timer(0.2, gate.set).start()
        assert sched.run_due(0) == [("retrain", 0), ("retrain:landed", 0)]  # waited
        gate.clear()
        clock.go_live()
        started = time.perf_counter()
        assert sched.run_due(wall.now()) == [("retrain", 100 * HOUR)]  # did not wait
        assert time.perf_counter() - started < 0.5
    finally:
        gate.set()
        worker.shutdown()


def test_ties_run_in_registration_order_and_a_result_lands_before_its_next_run() -> None:
    clock = SimulatedClock(0)
    sched = Scheduler(clock)
    log: list[str] = []
    sched.every("a", 10, lambda t: log.append(f"a@{t}"), start_at=0)
    task = WorkerTask(
        lambda t: (float(t),),
        slow_sum,
        lambda r, at: log.append(f"w landed {r:.0f}@{at}"),
    )
    worker = ThreadWorker("w")
    sched.every_in_worker("w", 10, task, worker=worker, delay_ms=10, start_at=0)
    sched.every("b", 10, lambda t: log.append(f"b@{t}"), start_at=0)
    try:
        ran = sched.run_due(20)
    finally:
        worker.shutdown()
    assert log == [
        "a@0",
        "b@0",
        "a@10",
        "w landed 0@10",
        "b@10",
        "a@20",
        "w landed 10@20",
        "b@20",
    ]
    assert ran == [
        ("a", 0),
        ("w", 0),
        ("b", 0),
        ("a", 10),
        ("w:landed", 10),
        ("w", 10),
        ("b", 10),
        ("a", 20),
        ("w:landed", 20),
        ("w", 20),
        ("b", 20),
    ]


def test_a_failed_computation_is_raised_at_landing_naming_the_job_and_times() -> None:
    sched = Scheduler(SimulatedClock(0))
    applied: list[float] = []
    task = WorkerTask(lambda t: (1.0, 2.0), fail, lambda r, at: applied.append(r))
    worker = ThreadWorker("w")
    job = sched.every_in_worker("retrain", HOUR, task, worker=worker, delay_ms=5 * M, start_at=0)
    try:
        sched.run_due(0)
        with pytest.raises(WorkerJobError, match=r"'retrain'.*00:00:00Z.*00:05:00Z.*no model fits"):
            sched.run_due(5 * M)
    finally:
        worker.shutdown()
    assert applied == []
    assert job.worker is not None and job.worker.stats.failed == 1


def test_a_failure_goes_to_on_error_and_the_engine_goes_on() -> None:
    sched = Scheduler(SimulatedClock(0))
    errors: list[WorkerJobError] = []
    task = WorkerTask(lambda t: (1.0,), fail, lambda r, at: None)
    with ProcessWorker("p") as worker:
        job = sched.every_in_worker(
            "retrain", HOUR, task, worker=worker, delay_ms=0, start_at=0, on_error=errors.append
        )
        sched.run_due(2 * HOUR)
    assert job.worker is not None and job.worker.stats.failed == 3
    assert len(errors) == 3
    cause = errors[0].__cause__
    assert isinstance(cause, WorkerError)
    assert "ValueError: no model fits 1 values" in str(cause)
    assert "worker_tasks.py" in str(cause)  # the worker's traceback comes along


def test_worker_jobs_need_the_clock_and_a_delay_within_the_interval() -> None:
    task = WorkerTask(lambda t: (0.0,), slow_sum, lambda r, at: None)
    worker = ThreadWorker("w")
    with pytest.raises(ValueError, match=r"needs the engine clock"):
        Scheduler().every_in_worker("x", 10, task, worker=worker, delay_ms=5, start_at=0)
    with pytest.raises(ValueError, match=r"delay_ms must be in \[0, interval_ms=10\], got 11"):
        Scheduler(SimulatedClock()).every_in_worker(
            "x", 10, task, worker=worker, delay_ms=11, start_at=0
        )
    worker.shutdown()


def test_stop_cancels_what_is_in_flight_and_nothing_lands() -> None:
    sched = Scheduler(SimulatedClock(0))
    gate = threading.Event()
    landed: list[int] = []
    task = WorkerTask(lambda t: t, lambda x: gate.wait(10) and x, lambda r, at: landed.append(r))
    worker = ThreadWorker("w")
    blocker = worker.submit(gate.wait, 10)  # occupies the worker: the job's task stays queued
    job = sched.every_in_worker("retrain", HOUR, task, worker=worker, delay_ms=M, start_at=0)
    sched.run_due(0)
    assert job.worker is not None and job.worker.pending is not None
    future = job.worker.pending.future
    sched.stop()
    gate.set()
    blocker.result(5)
    assert future.cancelled()
    assert sched.next_due() is None and sched.run_due(10 * HOUR) == []
    assert landed == []
    worker.shutdown()


def test_the_oldest_in_flight_is_the_computation_prepared_first_and_not_landed() -> None:
    """What a run's own prune reads (app/artifact_retention.py): a training in flight may
    still read what served when it was prepared, and store what it wrote after it was handed."""
    clock = SimulatedClock(0)
    scheduler = Scheduler(clock=clock)
    release = threading.Event()
    worker = ThreadWorker("t")
    try:
        task: WorkerTask[int, int] = WorkerTask(lambda t: t, lambda t: release.wait() and t,
                                                lambda _r, _t: None)  # fmt: skip
        scheduler.every_in_worker("slow", HOUR, task, worker=worker, delay_ms=HOUR, start_at=0)
        assert scheduler.oldest_in_flight() is None
        before = time.time()
        scheduler.run_due(0)
        first = scheduler.oldest_in_flight()
        assert first is not None and first.ran_at == 0  # prepared at 0, lands at 1 h
        assert before <= first.handed_at <= time.time()
        release.set()
        clock.advance_to(HOUR)
        scheduler.run_due(HOUR)  # landed, and the next one prepared at 1 h
        second = scheduler.oldest_in_flight()
        assert second is not None and second.ran_at == HOUR
        scheduler.cancel("slow")
        assert scheduler.oldest_in_flight() is None
    finally:
        release.set()
        worker.shutdown()
