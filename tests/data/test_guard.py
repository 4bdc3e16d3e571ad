from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.clock import SimulatedClock
from quantum_trader.data.guard import GuardedCandleFeed
from quantum_trader.domain.errors import DataError, LookAheadError
from quantum_trader.domain.time import fmt
from tests.data.fakes import HOUR, candles

START = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def feed_at(now: int, n: int = 48) -> tuple[GuardedCandleFeed, SimulatedClock]:
    clock = SimulatedClock(now)
    feed = GuardedCandleFeed(clock)
    feed.add("BTCUSDT", "1h", candles(n, start=START))
    return feed, clock


def test_reading_a_candle_before_its_close_is_refused_naming_both_times() -> None:
    now = START + 10 * HOUR + 30 * 60_000  # half way through the candle opened at 10:00
    feed, _ = feed_at(now)
    with pytest.raises(LookAheadError) as err:
        feed.candle("BTCUSDT", "1h", START + 10 * HOUR)
    assert fmt(START + 11 * HOUR) in str(err.value)  # the candle's close
    assert fmt(now) in str(err.value)  # the clock's now
    assert feed.counters.values["lookahead_refusals"] == 1


def test_reading_at_exactly_the_close_time_is_allowed() -> None:
    feed, clock = feed_at(START + 11 * HOUR - 1)
    with pytest.raises(LookAheadError):
        feed.candle("BTCUSDT", "1h", START + 10 * HOUR)
    clock.advance_to(START + 11 * HOUR)
    candle = feed.candle("BTCUSDT", "1h", START + 10 * HOUR)
    assert candle.open_time == START + 10 * HOUR and candle.close_time == clock.now()
    assert feed.latest("BTCUSDT", "1h") == candle


def test_last_closed_returns_read_only_views_up_to_now() -> None:
    feed, _ = feed_at(START + 5 * HOUR)
    window = feed.last_closed("BTCUSDT", "1h", 3)
    assert window.open_time.tolist() == [START + 2 * HOUR, START + 3 * HOUR, START + 4 * HOUR]
    assert len(window) == 3
    with pytest.raises(ValueError, match="read-only"):
        window.close[0] = 1.0
    assert len(feed.last_closed("BTCUSDT", "1h", 100)) == 5  # fewer when history is short
    early, _ = feed_at(START + HOUR - 1)
    assert len(early.last_closed("BTCUSDT", "1h", 3)) == 0 and early.latest("BTCUSDT", "1h") is None


def test_window_past_now_is_refused_even_beyond_the_stored_data() -> None:
    feed, _ = feed_at(START + 5 * HOUR, n=5)
    assert len(feed.window("BTCUSDT", "1h", START, START + 5 * HOUR)) == 5
    with pytest.raises(LookAheadError, match="opened 2024-01-01T05:00:00Z"):
        feed.window("BTCUSDT", "1h", START, START + 6 * HOUR)


def test_unknown_series_and_unsorted_input_fail_loudly() -> None:
    feed, _ = feed_at(START)
    with pytest.raises(DataError, match="ETHUSDT 1h is not loaded"):
        feed.last_closed("ETHUSDT", "1h", 1)
    with pytest.raises(DataError, match="strictly increasing"):
        feed.add("ETHUSDT", "1h", candles(5).iloc[::-1])


def test_feed_preloads_from_the_store(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    store.write("BTCUSDT", "1h", candles(24, start=START))
    feed = GuardedCandleFeed.from_source(
        store, SimulatedClock(START + 24 * HOUR), ["BTCUSDT"], "1h"
    )
    assert feed.closed_count("BTCUSDT", "1h") == 24


@settings(max_examples=60, deadline=None)
@given(now=st.integers(START - HOUR, START + 60 * HOUR), n=st.integers(0, 60))
def test_property_no_read_ever_returns_an_unclosed_candle(now: int, n: int) -> None:
    feed, _ = feed_at(now)
    window = feed.last_closed("BTCUSDT", "1h", n)
    assert len(window) <= n
    if len(window):
        assert int(window.open_time[-1]) + HOUR <= now
        assert np.all(np.diff(window.open_time) == HOUR)
    closed = feed.closed_count("BTCUSDT", "1h")
    assert len(window) == min(n, closed)
    if closed < 48:  # the next candle must be refused
        with pytest.raises(LookAheadError):
            feed.candle("BTCUSDT", "1h", START + closed * HOUR)
