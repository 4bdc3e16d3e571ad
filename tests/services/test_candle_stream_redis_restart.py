"""Redis restarted during a replay through the candle stream (issue 21: "Redis restarted
mid-run (it keeps nothing on disk here): the services detect the loss and resynchronise ...
with 0 duplicate side effects; what can't be recovered is reported, not guessed").

On a private ``redis-server`` (``tests/redis_server.py``: persistence off, so a restart loses
the stream, as the issue's Redis does):

* restarted while market-data publishes and the engine reads: both sides see it, market-data
  publishes the lost stream again, the engine reads on after its last entry, and the session
  ends with the single process's orders, fills, trades and equity;
* restarted after market-data ended the stream, before the engine read it (``--follow``, as
  ``up`` starts it, in a real process): it publishes again, the engine ends equal, and the role
  exits once the engine read the end;
* restarted with no publisher left: the engine stops with an error naming the restart and its
  last entry, not with a guess.
"""

from __future__ import annotations

import threading
import time
from typing import cast

import pandas as pd
import pytest
import redis

from quantum_trader.adapters.candle_stream import (
    CandleStreamPublisher,
    CandleStreamSource,
    PublishReport,
    end_read_key,
    stream_name,
)
from quantum_trader.domain.errors import DataError
from quantum_trader.engine.feeds import ReplayFeed
from tests.redis_server import RedisServer
from tests.redis_server import redis_server as redis_server  # the fixture
from tests.services.conftest import CANDLES
from tests.services.test_candle_stream import _assert_same, _market_data, _session

PREFIX = "qt-restart"
#: how long a step may wait for another thread's progress: a bound against a hang, not a
#: measurement (a loaded 2-core machine needed more than a minute)
SLOW_MACHINE_S = 600.0


def _length(client: redis.Redis) -> int:
    return int(cast(int, client.xlen(stream_name(PREFIX))))


def _wait(condition: object, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not callable(condition) or not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.mark.data
def test_redis_restarted_mid_replay_the_engine_ends_equal(
    frames: dict[str, pd.DataFrame], redis_server: RedisServer
) -> None:
    single = _session(frames).run()
    client = redis.Redis.from_url(redis_server.url)
    restarted = threading.Event()

    def paced(seconds: float) -> None:
        """The publisher's pause; at three quarters it waits for the restart, so that it is
        still publishing when Redis restarts however slowly the engine reads (a loaded
        machine let it finish first, and the lost stream had nobody to publish it again).
        The wait's bound is only against a hang: at 60 s, beside `make run` and the other
        test worker, the engine had not read a quarter yet, and the same failure came back."""
        try:
            held = not restarted.is_set() and _length(client) >= 3 * CANDLES // 4
        except redis.ConnectionError:  # restarting right now
            held = False
        if held:
            restarted.wait(SLOW_MACHINE_S)
        time.sleep(seconds)

    publisher = CandleStreamPublisher(client, PREFIX, batch=24, pause_s=0.05, sleep=paced)
    reports: list[PublishReport] = []
    feed = ReplayFeed(frames, "1h")
    publishing = threading.Thread(target=lambda: reports.append(publisher.publish(feed, "1h")))
    before = redis_server.run_id()
    publishing.start()
    _wait(lambda: _length(client) >= CANDLES // 2, "half the replay on the stream")

    def restart_when_the_engine_is_midway() -> None:
        _wait(lambda: source.read >= CANDLES // 4, "the engine a quarter through", SLOW_MACHINE_S)
        redis_server.restart()
        restarted.set()

    source = CandleStreamSource(client, PREFIX, "1h", stall_s=30)
    restarting = threading.Thread(target=restart_when_the_engine_is_midway)
    restarting.start()
    streamed = _session(frames, source=source).run()
    restarting.join()
    publishing.join()

    assert redis_server.run_id() != before  # the server did restart, losing the stream
    assert reports[0].redis_restarts == 1
    assert reports[0].published > CANDLES  # what the restart lost was published again
    assert source.redis_restarts == 1  # the engine noticed
    assert source.read == CANDLES and source.skipped == 0  # each candle once to the engine
    assert _length(client) == CANDLES + 1  # each candle once on the stream, and its end
    _assert_same(single, streamed)


@pytest.mark.data
def test_redis_restarted_before_the_engine_read_the_stream_market_data_publishes_again(
    env: dict[str, str], frames: dict[str, pd.DataFrame], redis_server: RedisServer
) -> None:
    single = _session(frames).run()
    client = redis.Redis.from_url(redis_server.url)
    role = _market_data(env, redis_server.url, PREFIX, "--follow")
    try:
        _wait(lambda: _length(client) == CANDLES + 1, "market-data to end the stream")
        redis_server.restart()
        assert _length(client) == 0
        _wait(lambda: _length(client) == CANDLES + 1, "market-data to publish it again")
        assert role.poll() is None  # still following: the engine has not read the end
        source = CandleStreamSource(client, PREFIX, "1h", stall_s=30)
        streamed = _session(frames, source=source).run()
        out, _ = role.communicate(timeout=60)
    finally:
        if role.poll() is None:
            role.kill()
    assert role.returncode == 0, out
    assert "the end was read; published again 1x" in out
    assert client.exists(end_read_key(stream_name(PREFIX)))
    _assert_same(single, streamed)


@pytest.mark.data
def test_redis_restarted_with_no_publisher_left_is_reported_not_guessed(
    frames: dict[str, pd.DataFrame], redis_server: RedisServer
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    feed = ReplayFeed(frames, "1h")
    CandleStreamPublisher(client, PREFIX).publish(feed, "1h")
    symbol, _, close, *_ = list(feed.bars())[29]  # the last entry of the 3 batches of 10 read
    source = CandleStreamSource(client, PREFIX, "1h", count=10, block_ms=100, stall_s=1.5)
    bars = source({})
    for _ in range(25):
        next(bars)
    redis_server.restart()
    with pytest.raises(DataError) as error:
        list(bars)
    message = str(error.value)
    assert "Redis restarted (1x) and lost the stream" in message
    assert f"after {close}-{feed.symbols.index(symbol)} and no end of stream" in message
    assert source.read == 30  # what it read before the loss: the batch it held went on
