"""Every class that builds Redis keys from a prefix refuses an unusable one itself (before
2026-12-08 only the CLI's options checked, so code could publish under ``""`` or ``qt:dead``)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import redis

from quantum_trader.adapters.candle_stream import CandleStreamPublisher, CandleStreamSource
from quantum_trader.adapters.redis_keys import key_prefix
from quantum_trader.adapters.redis_streams import DeadLetters, RedisProcessedIds, RedisStreamsBus
from quantum_trader.clock.clock import SimulatedClock

#: never connected to: the constructors must refuse before any command is sent
CLIENT = redis.Redis(host="127.0.0.1", port=1)

BUILDERS: dict[str, Callable[[str], object]] = {
    "bus": lambda p: RedisStreamsBus(CLIENT, SimulatedClock(0), group="g", consumer="c", prefix=p),
    "dead letters": lambda p: DeadLetters(CLIENT, prefix=p),
    "processed ids": lambda p: RedisProcessedIds(CLIENT, prefix=p),
    "candle publisher": lambda p: CandleStreamPublisher(CLIENT, p),
    "candle source": lambda p: CandleStreamSource(CLIENT, p, "1h"),
}

BAD = {
    "": "give one without spaces",
    "a b": "give one without spaces",
    "qt*": "give one without spaces",
    "qt[1]": "give one without spaces",
    "qt:": "an empty part between colons",
    ":qt": "an empty part between colons",
    "a::b": "an empty part between colons",
    "qt:dead": "'dead' after a colon would share the keys of prefix 'qt'",
    "qt:prod:processed": "'processed' after a colon would share the keys of prefix 'qt:prod'",
    "qt:market.candle.closed": "would share the keys of prefix 'qt'",
}


@pytest.mark.parametrize("builder", list(BUILDERS))
@pytest.mark.parametrize("prefix", list(BAD))
def test_a_bad_prefix_is_refused_where_keys_are_built(builder: str, prefix: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"Redis key prefix {prefix!r}: ")) as refused:
        BUILDERS[builder](prefix)
    assert BAD[prefix] in str(refused.value)


@pytest.mark.parametrize("builder", list(BUILDERS))
@pytest.mark.parametrize("prefix", ["qt", "qt-test-1f2e", "qt:prod", "team_a:qt:paper"])
def test_a_usable_prefix_passes(builder: str, prefix: str) -> None:
    assert key_prefix(prefix) == prefix
    BUILDERS[builder](prefix)
