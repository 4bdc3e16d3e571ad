"""The market-data publisher when its connection to Redis drops mid-publish (a restarting
Redis resets connections for a moment): it waits for Redis and appends again, each candle once;
a Redis that stays away past ``unreachable_s`` is reported with the connection's own error.
Found by the fresh-clone CI of 2026-12-07: the publisher thread of
``test_candle_stream_redis_restart.py`` died on "Connection reset by peer" while Redis came back,
and nobody published the lost stream again."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
import redis

from quantum_trader.adapters.candle_stream import CandleStreamPublisher, stream_name
from quantum_trader.engine.feeds import ReplayFeed
from tests.services.conftest import CANDLES


class DropsOnce:
    """The append script, whose connection drops on its ``at``-th call (after the batch was
    appended, as a reset before the reply would leave it)."""

    def __init__(self, script: Any, at: int) -> None:
        self.script, self.at, self.calls = script, at, 0

    def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        reply = self.script(**kwargs)
        if self.calls == self.at:
            raise redis.ConnectionError("Connection reset by peer")
        return reply


def test_a_dropped_connection_mid_publish_appends_each_candle_once(
    client: redis.Redis, prefix: str, frames: dict[str, pd.DataFrame]
) -> None:
    publisher = CandleStreamPublisher(client, prefix, batch=24)
    dropping = DropsOnce(publisher._append, at=3)
    publisher._append = dropping  # type: ignore[method-assign]
    report = publisher.publish(ReplayFeed(frames, "1h"), "1h")
    assert dropping.calls > CANDLES // 24 + 1  # the dropped call's batch was sent again
    # the batch whose reply was lost landed but is not counted: the publisher cannot know
    assert report.published == CANDLES - 24 and report.redis_restarts == 0
    assert client.xlen(stream_name(prefix)) == CANDLES + 1  # each candle once, and the end


def test_a_redis_that_stays_away_is_reported(
    client: redis.Redis, prefix: str, frames: dict[str, pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    publisher = CandleStreamPublisher(client, prefix, batch=24, unreachable_s=0.3)
    publisher._append = DropsOnce(publisher._append, at=2)  # type: ignore[method-assign]

    def unreachable() -> None:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(client, "ping", unreachable)
    with pytest.raises(redis.ConnectionError, match="Connection reset by peer"):
        publisher.publish(ReplayFeed(frames, "1h"), "1h")
