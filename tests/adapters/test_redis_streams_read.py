"""The read script packs each stream's new entries into three strings (``scripts.py``): every
entry must come back with its id and its exact bytes, whatever the bytes hold."""

from __future__ import annotations

import json

import pytest
import redis

from quantum_trader.adapters.redis_streams import RedisStreamsBus
from quantum_trader.adapters.redis_streams.scripts import unpack
from quantum_trader.bus import Event
from quantum_trader.clock import SimulatedClock


def _document(topic: str, sequence: int, text: str) -> bytes:
    """An envelope written by another producer: UTF-8 left unescaped, spaces in it."""
    envelope = {
        "id": f"other:{sequence}", "type": topic, "time": 7, "source": "a producer",
        "sequence": sequence, "payload": {"text": text},
    }  # fmt: skip
    return json.dumps(envelope, ensure_ascii=False).encode()


def test_entries_come_back_byte_for_byte_from_several_streams(
    client: redis.Redis, prefix: str
) -> None:
    bus = RedisStreamsBus(client, SimulatedClock(0), group="g", consumer="w1", prefix=prefix)
    seen: dict[str, list[Event]] = {"a": [], "b": []}
    bus.subscribe("a", seen["a"].append)
    bus.subscribe("b", seen["b"].append)
    texts = ["prix 50 000 €", "", "line\nbreak 1-0 2", "日本語 ✓", " "]
    for n, text in enumerate(texts):
        client.xadd(f"{prefix}:a", {"event": _document("a", n, text)})
        client.xadd(f"{prefix}:b", {"event": _document("b", 100 + n, text[::-1])})
    client.xadd(f"{prefix}:a", {"event": b""})  # undecodable: dead-lettered
    client.xadd(f"{prefix}:b", {"other": b"x"})  # no event field: read as b"", dead-lettered
    sent = bus.publish("a", {"text": "ünïcode"}, source="bus")

    assert bus.poll(count=100) == 2 * len(texts) + 1
    assert [e.payload["text"] for e in seen["a"]] == [*texts, "ünïcode"]
    assert [e.payload["text"] for e in seen["b"]] == [t[::-1] for t in texts]
    assert seen["a"][-1] == sent and [e.sequence for e in seen["b"]] == [100, 101, 102, 103, 104]
    dead = [f[b"event"] for s in "ab" for _, f in client.xrange(f"{prefix}:dead:{s}")]
    assert dead == [b"", b""]
    assert bus.counters.dead_lettered == 2 and bus.counters.delivered == 11


def test_unpack_refuses_sizes_that_do_not_add_up() -> None:
    assert unpack(b"1-0 1-1", b"1 2", b"abc") == [
        (b"1-0", {b"event": b"a"}),
        (b"1-1", {b"event": b"bc"}),
    ]
    with pytest.raises(ValueError, match="sizes summing to 3"):
        unpack(b"1-0 1-1", b"1 2", b"abcd")
    with pytest.raises(ValueError):  # an id without a size
        unpack(b"1-0 1-1", b"1", b"a")
