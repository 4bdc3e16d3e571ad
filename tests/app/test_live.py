"""The live phase's control flow on a hand-made candle series: Ctrl-C is held while a candle is
processed and stops at once while waiting; a network outage is retried and its candles caught
up; scheduled jobs run at wall time between candles."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pandas as pd

from quantum_trader.app.live import LiveConnection
from quantum_trader.clock import ReplayThenWallClock, Scheduler
from quantum_trader.engine.live_phase import LivePhase

HOUR = 3_600_000
START = 1_700_000_000_000 // HOUR * HOUR  # close of the last replayed candle


class FakeWall:
    """A wall clock that only moves when the phase sleeps (and tells when it does)."""

    def __init__(self, t: int) -> None:
        self.t = t
        self.sleeps = 0

    def now(self) -> int:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.t += int(seconds * 1000)


class Exchange:
    """fetch_ohlcv over an hourly series, forming candle included; ``down`` is a wall-time
    window in which every request fails as a dropped connection does."""

    def __init__(self, wall: FakeWall, down: tuple[int, int] = (0, 0)) -> None:
        times = [START + k * HOUR for k in range(48)]
        self.frame = pd.DataFrame(
            {
                "open_time": times,
                **{c: [100.0 + k for k in range(48)] for c in ("open", "high", "low", "close")},
                "volume": 1.0,
            }
        )
        self.wall = wall
        self.down = down
        self.failures = 0

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[list[Any]]:
        now = self.wall.now()
        if self.down[0] <= now < self.down[1]:
            self.failures += 1
            raise ConnectionResetError("connection reset by peer")
        f = self.frame
        rows = f[(f["open_time"] >= (since or 0)) & (f["open_time"] <= now)].head(limit or 500)
        return rows.to_numpy().tolist()  # type: ignore[no-any-return]


def _phase(wall: FakeWall, exchange: Exchange, scheduler: Scheduler | None = None) -> LivePhase:
    return LivePhase(
        ReplayThenWallClock(START - HOUR, wall),
        scheduler or Scheduler(),
        ["BTCUSDT"],
        "1h",
        LiveConnection(client=lambda: exchange, wall=wall, sleep=wall.sleep),
        poll_s=600.0,
    )


def test_ctrl_c_during_a_candle_is_held_until_the_candle_is_done() -> None:
    wall = FakeWall(START + 10 * HOUR + 1)  # ten candles closed since the replay
    phase = _phase(wall, Exchange(wall))
    before = signal.getsignal(signal.SIGINT)
    done = []
    for bar in phase({"BTCUSDT": START}):
        if len(done) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the third candle
            time.sleep(0.05)  # the signal is handled here, mid-candle
        done.append(bar[2])  # ... and the candle's processing still completes
    assert done == [START + HOUR, START + 2 * HOUR, START + 3 * HOUR]
    assert phase.report.state == "stopped by Ctrl-C"
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back


def test_ctrl_c_while_waiting_stops_at_once() -> None:
    wall = FakeWall(START + 2 * HOUR + 1)

    def ctrl_c_in_sleep(seconds: float) -> None:
        wall.sleep(seconds)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # a real wait: interrupted at once
        raise AssertionError("Ctrl-C did not interrupt the wait")

    exchange = Exchange(wall)
    phase = LivePhase(
        ReplayThenWallClock(START - HOUR, wall),
        Scheduler(),
        ["BTCUSDT"],
        "1h",
        LiveConnection(client=lambda: exchange, wall=wall, sleep=ctrl_c_in_sleep),
        poll_s=600.0,
    )
    started = time.perf_counter()
    assert [bar[2] for bar in phase({"BTCUSDT": START})] == [START + HOUR, START + 2 * HOUR]
    assert time.perf_counter() - started < 2
    assert phase.report.state == "stopped by Ctrl-C"


def test_an_outage_is_retried_and_its_candles_caught_up() -> None:
    wall = FakeWall(START + 2 * HOUR + 1)
    exchange = Exchange(wall, down=(START + 3 * HOUR, START + 6 * HOUR))
    phase = _phase(wall, exchange)
    closes = []
    for bar in phase({"BTCUSDT": START}):
        closes.append(bar[2])
        if bar[2] == START + 10 * HOUR:
            break
    phase.close()  # a phase left open keeps its Ctrl-C handler until collected
    assert closes == [START + k * HOUR for k in range(1, 11)]  # none twice, none missed
    assert exchange.failures > 1 and phase.report.network_retries == exchange.failures
    assert phase.clock.live


def test_jobs_run_at_wall_time_between_candles() -> None:
    wall = FakeWall(START + 1)
    scheduler = Scheduler()
    ran: list[tuple[int, int]] = []  # (scheduled time, wall time when it ran)
    scheduler.every(
        "check", 15 * 60_000, lambda t: ran.append((t, wall.now())), start_at=START, catch_up=False
    )
    phase = _phase(wall, Exchange(wall), scheduler)
    for bar in phase({"BTCUSDT": START}):
        if bar[2] == START + 3 * HOUR:
            break
    phase.close()  # a phase left open keeps its Ctrl-C handler until collected
    between = [t for t, _ in ran if t % HOUR]
    assert between, ran  # quarter-hour jobs ran while no candle closed
    assert all(t <= at for t, at in ran)  # never before their time


def test_closing_a_suspended_phase_keeps_its_candles_and_gives_ctrl_c_back() -> None:
    """When the run fails while the phase waits on the engine, the main job closes it."""
    wall = FakeWall(START + 3 * HOUR + 1)
    kept: list[int] = []
    exchange = Exchange(wall)
    phase = LivePhase(
        ReplayThenWallClock(START - HOUR, wall),
        Scheduler(),
        ["BTCUSDT"],
        "1h",
        LiveConnection(client=lambda: exchange, wall=wall, sleep=wall.sleep),
        poll_s=600.0,
        keep=lambda bars: kept.extend(b[2] for b in bars),
    )
    before = signal.getsignal(signal.SIGINT)
    bars = phase({"BTCUSDT": START})
    next(bars), next(bars)
    assert signal.getsignal(signal.SIGINT) is not before  # held while a candle is processed
    phase.close()
    assert signal.getsignal(signal.SIGINT) is before
    assert kept == [START + HOUR, START + 2 * HOUR]
    assert phase.report.state == "ended by an error"


def test_max_candles_ends_the_phase_after_that_many() -> None:
    wall = FakeWall(START + 10 * HOUR + 1)  # ten candles closed since the replay
    exchange = Exchange(wall)
    phase = LivePhase(
        ReplayThenWallClock(START - HOUR, wall),
        Scheduler(),
        ["BTCUSDT"],
        "1h",
        LiveConnection(client=lambda: exchange, wall=wall, sleep=wall.sleep),
        poll_s=600.0,
        max_candles=3,
    )
    assert [bar[2] for bar in phase({"BTCUSDT": START})] == [START + k * HOUR for k in (1, 2, 3)]
    assert phase.report.state == "ended (max candles)" and phase.report.candles == 3
