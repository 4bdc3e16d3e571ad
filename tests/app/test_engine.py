import pandas as pd
import pytest

from quantum_trader.app.engine import Engine
from quantum_trader.app.feeds import ReplayFeed
from quantum_trader.bus import Event, InProcessBus
from quantum_trader.clock import Scheduler, SimulatedClock
from quantum_trader.domain import Candle, DataError
from quantum_trader.domain.time import MS_PER_HOUR, MS_PER_MINUTE


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
