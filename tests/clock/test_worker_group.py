"""Continuous learning's worker group (``clock/worker_group.py``) and the fan-out of a task's
items (``WorkerTask(each=True)``, ``clock/worker_jobs.fan_out``): the items run side by side in
the group's processes, land in their own order whatever order they finish in, a failed item
fails the batch with its own error, and a pause stops every member that computes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from quantum_trader.clock import Scheduler, SimulatedClock, ThreadWorker, WorkerTask
from quantum_trader.clock.pause import TrainingPause
from quantum_trader.clock.worker_group import WorkerGroup
from quantum_trader.clock.worker_jobs import WorkerCancelled, fan_out
from quantum_trader.domain.time import MS_PER_HOUR, MS_PER_MINUTE
from tests.clock.test_training_pause import _becomes, linux_only
from tests.clock.worker_tasks import fail, meet, sleep_for, slow_sum


def test_a_fanned_out_task_runs_its_items_side_by_side_in_the_group(tmp_path: Path) -> None:
    # each item waits for the other: both return True only if two processes ran them at once
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    with WorkerGroup("side-by-side", 2) as group:
        assert fan_out(group, meet, [(a, b), (b, a)]).result(timeout=60) == [True, True]
        pids = {Path(a).read_text(), Path(b).read_text()}
    assert len(pids) == 2


def test_the_items_land_in_their_order_whatever_order_they_finish_in() -> None:
    inputs = [tuple(float(i) for i in range(n)) for n in range(1, 9)]  # random pauses each
    worker = ThreadWorker("fan-out")
    try:
        assert fan_out(worker, slow_sum, inputs).result(timeout=30) == [sum(v) for v in inputs]
        assert fan_out(worker, slow_sum, []).result(timeout=1) == []
    finally:
        worker.shutdown()


def test_a_failed_item_fails_the_batch_with_the_first_failure_in_item_order() -> None:
    worker = ThreadWorker("fan-out")
    try:
        future = fan_out(worker, fail, [(1.0,), (1.0, 2.0)])
        with pytest.raises(ValueError, match="no model fits 1 values"):
            future.result(timeout=30)
    finally:
        worker.shutdown()


def test_cancelling_the_batch_cancels_the_items_not_started() -> None:
    with WorkerGroup("cancel", 1) as group:
        future = fan_out(group, sleep_for, [1.0, 1.0, 1.0])
        time.sleep(0.2)
        assert future.cancel()
        time.sleep(1.5)
    # the group shut down: whatever was queued never ran, and the batch says cancelled
    assert future.cancelled()


def test_a_batch_whose_worker_shut_down_fails_instead_of_hanging() -> None:
    group = WorkerGroup("shutdown", 1)
    group.start()
    future = fan_out(group, sleep_for, [0.5, 0.5, 0.5])
    time.sleep(0.1)
    group.shutdown()
    with pytest.raises((WorkerCancelled, RuntimeError)):
        future.result(timeout=30)


def test_a_scheduled_job_lands_its_items_results_as_one_list_at_its_engine_time() -> None:
    clock = SimulatedClock(0)
    sched = Scheduler(clock)
    landed: list[tuple[int, list[float]]] = []
    task = WorkerTask(
        lambda t: [(float(t),), (1.0, float(t))],
        slow_sum,
        lambda results, at: landed.append((at, results)),
        each=True,
    )
    with WorkerGroup("job", 2) as group:
        delay = 10 * MS_PER_MINUTE
        sched.every_in_worker("fit", MS_PER_HOUR, task, worker=group, delay_ms=delay, start_at=0)
        for t in range(0, 2 * MS_PER_HOUR, MS_PER_MINUTE):
            clock.advance_to(t)
            sched.run_due(t)
    hour = float(MS_PER_HOUR)
    assert landed == [
        (10 * MS_PER_MINUTE, [0.0, 1.0]),
        (MS_PER_HOUR + 10 * MS_PER_MINUTE, [hour, 1.0 + hour]),
    ]


@linux_only
def test_a_pause_stops_every_member_that_computes() -> None:
    pause, figures = TrainingPause(), dict[str, int]()
    with WorkerGroup("paused", 2) as group:
        pause.add(group, figures.__setitem__)
        group.submit(sleep_for, 30.0)
        group.submit(sleep_for, 30.0)
        deadline = time.monotonic() + 20
        while len(group.pausable_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        pids = group.pausable_pids()
        assert len(pids) == 2
        with pause.paused():
            assert [_becomes(pid, {"T"}) for pid in pids] == ["T", "T"]
        assert all(_becomes(pid, {"S", "R"}) in {"S", "R"} for pid in pids)
    assert pause.stats.holds == 1 and pause.stats.stops == 2
    assert figures["training_paused_decisions"] == 1
