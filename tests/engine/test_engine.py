import pandas as pd
import pytest

from quantum_trader.bus import Event, InProcessBus
from quantum_trader.clock import Scheduler, SimulatedClock
from quantum_trader.domain import Candle, DataError
from quantum_trader.domain.time import MS_PER_HOUR, MS_PER_MINUTE
from quantum_trader.engine.engine import Engine
from quantum_trader.engine.feeds import ReplayFeed


def frame(start: int, n: int, step: int = MS_PER_HOUR) -> pd.DataFrame:
    times = [start + i * step for i in range(n)]
    return pd.DataFrame(
        {"open_time": times, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 1.0}
    )


def test_replay_fires_jobs_at_simulated_times_before_the_candle_they_precede() -> None:
    clock = SimulatedClock(0)
    bus = InProcessBus(clock)
    sched = Scheduler()
    log: list[tuple[str, int]] = []
    sched.every("retrain.check", 30 * MS_PER_MINUTE, lambda t: log.append(("job", t)), start_at=0)
    engine = Engine(clock, bus, sched)
    engine.on_candle(lambda c: log.append((c.symbol, c.close_time)))

    feed = ReplayFeed({"ETHUSDT": frame(0, 2), "BTCUSDT": frame(0, 2)}, "1h")
    engine.run(feed)

    h, m = MS_PER_HOUR, MS_PER_MINUTE
    assert log == [
        ("job", 0),
        ("job", 30 * m),
        ("job", h),
        ("BTCUSDT", h),
        ("ETHUSDT", h),
        ("job", h + 30 * m),
        ("job", 2 * h),
        ("BTCUSDT", 2 * h),
        ("ETHUSDT", 2 * h),
    ]
    assert clock.now() == 2 * h
    assert engine.stats.candles == 4


def test_replay_is_deterministic() -> None:
    def one_run() -> list[str]:
        clock = SimulatedClock(0)
        bus = InProcessBus(clock, run_id="same")
        out: list[str] = []
        bus.subscribe("*", lambda ev: out.append(ev.to_json()))
        Engine(clock, bus, Scheduler()).run(
            ReplayFeed({"A": frame(0, 5), "B": frame(MS_PER_HOUR, 4)}, "1h")
        )
        return out

    assert one_run() == one_run()


def test_stream_going_backwards_names_the_times() -> None:
    clock = SimulatedClock(0)
    engine = Engine(clock, InProcessBus(clock), Scheduler())
    engine.process(Candle("BTCUSDT", "1h", 2 * MS_PER_HOUR, 1, 2, 0.5, 1.5, 1))
    with pytest.raises(
        DataError, match=r"went backwards: close 1970-01-01T02:00:00Z after 1970-01-01T03:00:00Z"
    ):
        engine.process(Candle("BTCUSDT", "1h", MS_PER_HOUR, 1, 2, 0.5, 1.5, 1))


def test_replay_feed_refuses_unsorted_frames() -> None:
    bad = frame(0, 3).iloc[[0, 2, 1]]
    with pytest.raises(DataError, match="open times not increasing at row 2"):
        ReplayFeed({"BTCUSDT": bad}, "1h")


def test_candle_events_carry_the_candle() -> None:
    clock = SimulatedClock(0)
    bus = InProcessBus(clock)
    events: list[Event] = []
    bus.subscribe("market.candle.closed", events.append)
    Engine(clock, bus, Scheduler()).run(ReplayFeed({"BTCUSDT": frame(0, 1)}, "1h"))
    assert events[0].payload["symbol"] == "BTCUSDT"
    assert events[0].time == MS_PER_HOUR


class _QuietAfter:
    """A skipper that needs candle ``busy`` one at a time and nothing else."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.skipped: list[tuple[int, int]] = []

    def quiet_until(self, symbol: str, bars: object, start: int, stop: int) -> int:
        return self.busy if start <= self.busy < stop else stop

    def skip_bars(self, symbol: str, bars: object, start: int, stop: int) -> None:
        self.skipped.append((start, stop))


def test_run_columns_fast_forwards_around_busy_candles_and_jobs() -> None:
    clock = SimulatedClock(0)
    sched = Scheduler()
    jobs: list[tuple[int, int]] = []
    sched.every("daily", 24 * MS_PER_HOUR, lambda t: jobs.append((t, clock.now())), start_at=0)
    engine = Engine(clock, InProcessBus(clock), sched, publish_candles=False)
    seen: list[int] = []
    skipper = _QuietAfter(busy=40)
    engine.on_bar(lambda s, ot, ct, o, h, lo, c, v: seen.append(ct), skipper=skipper)
    assert engine.can_fast_forward
    cols = ReplayFeed({"BTCUSDT": frame(0, 100)}, "1h").columns("BTCUSDT")
    ticks: list[int] = []
    stats = engine.run_columns(cols, 0, progress=ticks.append, progress_every=10)

    h = MS_PER_HOUR
    # per candle: the busy one, and the ones closing at or after each daily job (run first),
    # each with the candle after it (AFTER_HORIZON)
    assert seen == [
        h,
        24 * h,
        25 * h,
        41 * h,
        42 * h,
        48 * h,
        49 * h,
        72 * h,
        73 * h,
        96 * h,
        97 * h,
    ]
    assert jobs == [(0, h), (24 * h, 24 * h), (48 * h, 48 * h), (72 * h, 72 * h), (96 * h, 96 * h)]
    assert skipper.skipped[0] == (1, 23)
    one_by_one = [0, 23, 24, 40, 41, 47, 48, 71, 72, 95, 96]
    covered = sorted([i for a, b in skipper.skipped for i in range(a, b)] + one_by_one)
    assert covered == list(range(100))
    assert stats.candles == 100 == sum(ticks) and stats.last_close == 100 * h
    assert engine.last_close == {"BTCUSDT": 100 * h} and clock.now() == 100 * h


def test_run_columns_without_a_skipper_sees_every_candle() -> None:
    clock = SimulatedClock(0)
    engine = Engine(clock, InProcessBus(clock), Scheduler(), publish_candles=False)
    seen: list[int] = []
    engine.on_bar(lambda s, ot, ct, o, h, lo, c, v: seen.append(ct))
    assert not engine.can_fast_forward
    engine.run_columns(ReplayFeed({"BTCUSDT": frame(0, 5)}, "1h").columns("BTCUSDT"), 2)
    assert seen == [3 * MS_PER_HOUR, 4 * MS_PER_HOUR, 5 * MS_PER_HOUR]


def test_cross_asset_symbol_comes_first_among_candles_closing_together() -> None:
    # ADAUSDT sorts before BTCUSDT, but its features read BTC's candle of the same time
    feed = ReplayFeed(
        {"ADAUSDT": frame(0, 2), "BTCUSDT": frame(0, 2), "ETHUSDT": frame(0, 1)}, "1h"
    )
    assert feed.symbols == ["BTCUSDT", "ADAUSDT", "ETHUSDT"]
    order = [(c.close_time, c.symbol) for c in feed]
    assert [name for name, *_ in feed.bars()] == [s for _, s in order]
    assert order == [
        (MS_PER_HOUR, "BTCUSDT"),
        (MS_PER_HOUR, "ADAUSDT"),
        (MS_PER_HOUR, "ETHUSDT"),
        (2 * MS_PER_HOUR, "BTCUSDT"),
        (2 * MS_PER_HOUR, "ADAUSDT"),
    ]
