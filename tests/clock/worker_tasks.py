"""Module-level computations for worker-job tests (a process worker imports them by name)."""

from __future__ import annotations

import os
import random
import time

from quantum_trader.clock import Scheduler, SimulatedClock, WorkerTask
from quantum_trader.clock.worker_jobs import Worker
from quantum_trader.domain.time import MS_PER_HOUR, MS_PER_MINUTE


def slow_sum(values: tuple[float, ...]) -> float:
    """The sum, after a random pause of up to 50 ms: a worker whose speed varies run to run."""
    time.sleep(random.uniform(0.0, 0.05))
    return sum(values)


def fail(values: tuple[float, ...]) -> float:
    raise ValueError(f"no model fits {len(values)} values")


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def what_the_worker_sees(_: None) -> dict[str, object]:
    """The priority, scheduling class and thread caps inside the worker process."""
    import torch  # imported here, after the caps: the worker's own copy

    return {
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "idle": os.sched_getscheduler(0) == getattr(os, "SCHED_IDLE", -1),
        "omp": os.environ.get("OMP_NUM_THREADS"),
        "openblas": os.environ.get("OPENBLAS_NUM_THREADS"),
        "torch_threads": torch.get_num_threads(),
    }


def slow_quantile(returns: tuple[float, ...]) -> float:
    """A "retraining": the 80th percentile of absolute returns, after up to 30 ms."""
    time.sleep(random.uniform(0.0, 0.03))
    if not returns:
        return 0.01
    ordered = sorted(abs(r) for r in returns)
    return ordered[int(0.8 * (len(ordered) - 1))]


def replay_hourly_job(worker: Worker, *, hours: int) -> list[tuple[int, int, float]]:
    """An hourly job over ``hours`` of minute candles whose inputs include its last result,
    landing 10 minutes after it runs: (engine time at apply, landed_at, result) per landing."""
    clock = SimulatedClock(0)
    sched = Scheduler(clock)
    landed: list[tuple[int, int, float]] = []
    seen = [0.0]

    def prepare(t: int) -> tuple[float, ...]:
        return (seen[0], float(t))

    def apply(result: float, landed_at: int) -> None:
        landed.append((clock.now(), landed_at, result))
        seen[0] = result

    task = WorkerTask(prepare, slow_sum, apply)
    sched.every_in_worker(
        "retrain", MS_PER_HOUR, task, worker=worker, delay_ms=10 * MS_PER_MINUTE, start_at=0
    )
    for t in range(0, hours * MS_PER_HOUR, MS_PER_MINUTE):
        clock.advance_to(t)
        sched.run_due(t)
    return landed


def meet(paths: tuple[str, str]) -> bool:
    """Say "here" in ``paths[0]`` and wait (up to 10 s) for the other task's ``paths[1]``: True
    only when both ran at the same time, in two processes."""
    mine, theirs = paths
    with open(mine, "w") as f:
        f.write(str(os.getpid()))
    deadline = time.monotonic() + 10.0
    while not os.path.exists(theirs):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
