"""The replay-then-wall clock: simulated until the switch, the wall's after, never backwards."""

from __future__ import annotations

import pytest

from quantum_trader.clock import ReplayThenWallClock
from quantum_trader.domain.errors import LookAheadError

HOUR = 3_600_000


class Wall:
    def __init__(self, t: int) -> None:
        self.t = t

    def now(self) -> int:
        return self.t


def test_replay_time_until_the_switch_then_wall_time() -> None:
    wall = Wall(100 * HOUR)
    clock = ReplayThenWallClock(0, wall)
    clock.advance_to(5 * HOUR)
    wall.t += HOUR
    assert clock.now() == 5 * HOUR and not clock.live  # the wall does not move a replay
    clock.go_live()
    assert clock.live and clock.now() == 101 * HOUR
    wall.t += 1
    assert clock.now() == 101 * HOUR + 1


def test_after_the_switch_a_candle_before_its_close_is_look_ahead() -> None:
    wall = Wall(10 * HOUR + 1)
    clock = ReplayThenWallClock(0, wall)
    clock.go_live()
    clock.advance_to(10 * HOUR)  # closed: accepted, and time stays the wall's
    assert clock.now() == 10 * HOUR + 1
    with pytest.raises(LookAheadError, match="arrived before it closed"):
        clock.advance_to(11 * HOUR)


def test_the_switch_happens_once_and_never_goes_back_in_time() -> None:
    clock = ReplayThenWallClock(0, Wall(2 * HOUR))
    clock.advance_to(3 * HOUR)
    with pytest.raises(LookAheadError, match="after the wall clock's now"):
        clock.go_live()
    ok = ReplayThenWallClock(0, Wall(2 * HOUR))
    ok.go_live()
    with pytest.raises(RuntimeError, match="already on wall time"):
        ok.go_live()
