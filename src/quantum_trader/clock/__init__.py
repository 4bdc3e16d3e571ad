"""Time: the Clock protocol, simulated and wall clocks, the job scheduler and its workers."""

from quantum_trader.clock.clock import (
    Clock,
    ReplayThenWallClock,
    SimulatedClock,
    WallClock,
    is_simulated,
)
from quantum_trader.clock.scheduler import ScheduledJob, Scheduler
from quantum_trader.clock.worker_jobs import (
    Worker,
    WorkerJobError,
    WorkerJobStats,
    WorkerTask,
)
from quantum_trader.clock.worker_process import AppliedLimits, WorkerLimits
from quantum_trader.clock.workers import ProcessWorker, ThreadWorker, WorkerError

__all__ = [
    "AppliedLimits",
    "Clock",
    "ProcessWorker",
    "ReplayThenWallClock",
    "ScheduledJob",
    "Scheduler",
    "SimulatedClock",
    "ThreadWorker",
    "WallClock",
    "Worker",
    "WorkerError",
    "WorkerJobError",
    "WorkerJobStats",
    "WorkerLimits",
    "WorkerTask",
    "is_simulated",
]
