"""Time: the Clock protocol, simulated and wall clocks, and the job scheduler."""

from quantum_trader.clock.clock import Clock, ReplayThenWallClock, SimulatedClock, WallClock
from quantum_trader.clock.scheduler import ScheduledJob, Scheduler

__all__ = [
    "Clock",
    "ReplayThenWallClock",
    "ScheduledJob",
    "Scheduler",
    "SimulatedClock",
    "WallClock",
]
