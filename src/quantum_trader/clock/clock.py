"""The engine's notion of now. Every periodic job and every data read asks a Clock.

``SimulatedClock`` is advanced by the replay; ``WallClock`` reads the system time;
``ReplayThenWallClock`` is the first until a replay ends and the second after. Nothing else in the
engine calls ``time.time()``.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from quantum_trader.domain.errors import LookAheadError
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


class ReplayThenWallClock(SimulatedClock):
    """Simulated time while a replay runs, then wall time from :meth:`go_live` on (once).

    The main job replays recent history and then goes on trading live candles *in the same
    run*. Every module of the run (bus, scheduler, risk engine, controller, intelligence, order
    manager) was handed one clock object; switching that object moves all of them from replay
    time to wall time together, so the runner, engine and modules that traded the replay trade
    the live candles unchanged — one code path, no second engine to keep in step.

    After the switch, time is the wall's: ``advance_to(t)`` (the engine's "this candle closed
    at t") no longer moves it but checks that ``t`` has passed. A candle handed over before its
    close is look-ahead, and an error.

    >>> class Wall:
    ...     t = 10_000
    ...     def now(self) -> int: return self.t
    >>> wall = Wall(); clock = ReplayThenWallClock(1_000, wall)
    >>> clock.advance_to(5_000); clock.now()
    5000
    >>> clock.go_live(); wall.t += 1; clock.now()
    10001
    """

    def __init__(self, start_ms: int = 0, wall: Clock | None = None) -> None:
        super().__init__(start_ms)
        self._wall = wall or WallClock()
        self._live = False

    @property
    def live(self) -> bool:
        return self._live

    def now(self) -> int:
        return self._wall.now() if self._live else self._now

    def advance_to(self, ts_ms: int) -> None:
        if not self._live:
            super().advance_to(ts_ms)
        elif ts_ms > (now := self._wall.now()):
            raise LookAheadError(
                f"a candle closing at {fmt(ts_ms)} arrived before it closed (now {fmt(now)})"
            )

    def go_live(self) -> None:
        """Switch to wall time; the replay must not end after the wall clock's now."""
        if self._live:
            raise RuntimeError("the clock is already on wall time")
        now = self._wall.now()
        if now < self._now:
            raise LookAheadError(
                f"the replay ends at {fmt(self._now)}, after the wall clock's now {fmt(now)}"
            )
        self._live = True


def is_simulated(clock: Clock) -> bool:
    """Whether ``clock`` is on replay time now: a :class:`SimulatedClock`, or a
    :class:`ReplayThenWallClock` before :meth:`~ReplayThenWallClock.go_live`.

    Work whose result must land at a fixed engine time waits for it on replay time (the replay
    is deterministic) and never on wall time (live must not stall).

    >>> is_simulated(SimulatedClock()), is_simulated(WallClock())
    (True, False)
    """
    if isinstance(clock, ReplayThenWallClock):
        return not clock.live
    return isinstance(clock, SimulatedClock)
