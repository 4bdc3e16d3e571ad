"""The engine's notion of now. Every periodic job and every data read asks a Clock.

``SimulatedClock`` is advanced by the replay; ``WallClock`` reads the system time. Nothing else
in the engine calls ``time.time()``.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from quantum_trader.domain.time import fmt


@runtime_checkable
class Clock(Protocol):
    """Current time in epoch milliseconds UTC."""

    def now(self) -> int: ...


class SimulatedClock:
    """A clock that only moves when told to, and never backwards.

    >>> c = SimulatedClock(1_000)
    >>> c.advance_to(5_000); c.now()
    5000
    """

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now(self) -> int:
        return self._now

    def advance_to(self, ts_ms: int) -> None:
        if ts_ms < self._now:
            raise ValueError(f"time cannot go backwards: {fmt(ts_ms)} < now {fmt(self._now)}")
        self._now = ts_ms


class WallClock:
    """The system's real time."""

    def now(self) -> int:
        return time.time_ns() // 1_000_000
