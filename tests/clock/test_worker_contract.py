"""The worker port's contract, which every training backend passes: a thread, a spawned
low-priority process, a group of them (continuous learning's), the local process pool of the
walk-forward's folds (``app/training_backend.py``), and Ray (``adapters/ray_worker.py``, local
mode: one Ray for the whole module).

What a worker job (``clock/worker_jobs.py``) relies on: each future gets its own input's result
whatever the order computations finish in; a computation that raised is a failure naming its
cause at landing time; after shutdown nothing new starts and nothing submitted hangs; and a
job replayed on the engine clock lands the same results at the same engine times.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from quantum_trader.clock import (
    ProcessWorker,
    Scheduler,
    SimulatedClock,
    ThreadWorker,
    Worker,
    WorkerJobError,
    WorkerTask,
)
from quantum_trader.clock.worker_group import WorkerGroup
from quantum_trader.domain.time import MS_PER_MINUTE
from tests.clock.worker_tasks import fail, replay_hourly_job, sleep_for, slow_sum

M = MS_PER_MINUTE
HOUR = 60 * M
KINDS = ("thread", "process", "group", "pool", "ray")


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """One local Ray for the module's Ray cases (about 5 s to start on these 2 cores)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def make_worker(kind: str, request: pytest.FixtureRequest) -> Any:
    """A started worker of ``kind``."""
    if kind == "thread":
        return ThreadWorker("contract")
    if kind == "process":
        worker = ProcessWorker("contract")
        worker.start()
        return worker
    if kind == "group":
        group = WorkerGroup("contract", 2)
        group.start()
        return group
    if kind == "pool":
        from quantum_trader.evaluation.fold_pool import ProcessPool

        pool = ProcessPool("contract", 2)
        pool.start()
        return pool
    from quantum_trader.adapters.ray_worker import RayWorker

    request.getfixturevalue("ray_session")
    ray_worker = RayWorker("contract")
    ray_worker.start()
    return ray_worker


@pytest.fixture(params=KINDS)
def worker(request: pytest.FixtureRequest) -> Iterator[Any]:
    started = make_worker(request.param, request)
    yield started
    started.shutdown()


def test_each_future_gets_its_own_inputs_result_whatever_the_finishing_order(
    worker: Worker,
) -> None:
    inputs = [tuple(random.uniform(-1, 1) for _ in range(n)) for n in range(1, 13)]
    futures = [worker.submit(slow_sum, values) for values in inputs]  # random pauses
    for values, future in zip(inputs, futures, strict=True):
        assert future.result(timeout=60) == sum(values)


def test_a_computation_that_raised_lands_as_a_failure_naming_its_cause(worker: Worker) -> None:
    clock = SimulatedClock(0)
    sched = Scheduler(clock)
    errors: list[WorkerJobError] = []
    applied: list[float] = []
    task = WorkerTask(lambda t: (1.0, 2.0, 3.0), fail, lambda r, at: applied.append(r))
    sched.every_in_worker(
        "fit", HOUR, task, worker=worker, delay_ms=10 * M, start_at=0, on_error=errors.append
    )
    for t in range(0, HOUR, M):
        clock.advance_to(t)
        sched.run_due(t)
    assert applied == []
    assert len(errors) == 1
    error = errors[0]
    assert error.job == "fit" and error.ran_at == 0 and error.lands_at == 10 * M
    assert "ValueError" in str(error) and "no model fits 3 values" in str(error)
    assert error.__cause__ is not None


def test_without_on_error_the_failure_stops_the_run(worker: Worker) -> None:
    clock = SimulatedClock(0)
    sched = Scheduler(clock)
    task = WorkerTask(lambda t: (1.0,), fail, lambda r, at: None)
    sched.every_in_worker("fit", HOUR, task, worker=worker, delay_ms=M, start_at=0)
    sched.run_due(0)
    clock.advance_to(M)
    with pytest.raises(WorkerJobError, match="no model fits 1 values"):
        sched.run_due(M)


def test_after_shutdown_nothing_starts_and_nothing_submitted_hangs(worker: Worker) -> None:
    futures: list[Future[float]] = [worker.submit(sleep_for, 0.5) for _ in range(4)]
    time.sleep(0.1)
    worker.shutdown()
    # (not concurrent.futures.wait: it does not count a future cancelled by its owner)
    deadline = time.monotonic() + 30
    while not all(f.done() for f in futures) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(f.done() for f in futures), "a future submitted before shutdown never ended"
    for future in futures:  # finished, cancelled, or failed: each says which
        if future.cancelled():
            continue
        error = future.exception()
        assert isinstance(error, RuntimeError) if error is not None else future.result() == 0.5
    with pytest.raises(RuntimeError):
        worker.submit(slow_sum, (1.0,))


@pytest.fixture(scope="module")
def thread_replay() -> list[tuple[int, int, float]]:
    worker = ThreadWorker("reference")
    try:
        return replay_hourly_job(worker, hours=8)
    finally:
        worker.shutdown()


def test_a_replayed_job_lands_the_same_results_at_the_same_times_on_every_worker(
    worker: Worker, thread_replay: list[tuple[int, int, float]]
) -> None:
    landed = replay_hourly_job(worker, hours=8)
    assert landed == thread_replay
    assert [(now, at) for now, at, _ in landed] == [(h * HOUR + 10 * M,) * 2 for h in range(8)]
    # the chain matches only if every result landed before the next run prepared
    assert landed[3][2] == landed[2][2] + 3 * HOUR
