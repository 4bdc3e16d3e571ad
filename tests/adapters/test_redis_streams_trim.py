"""Bounded streams that keep every entry a consumer group still needs, against the real Redis."""

import uuid
from collections.abc import Iterator

import pytest
import redis

from quantum_trader.adapters.redis_streams import RedisStreamsBus, safe_floor, trim_stream
from quantum_trader.clock import SimulatedClock


@pytest.fixture
def stream(client: redis.Redis) -> Iterator[str]:
    prefix = f"qt-test-{uuid.uuid4().hex[:8]}"
    yield f"{prefix}:t"
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def _fill(client: redis.Redis, stream: str, n: int) -> list[bytes]:
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(stream, {"i": i})
    return list(pipe.execute())


def _read_and_ack(client: redis.Redis, stream: str, group: str, n: int, ack: int) -> None:
    reply = client.xreadgroup(group, "c", {stream: ">"}, count=n)
    ids = [entry_id for entry_id, _ in reply[0][1]]
    assert len(ids) == n
    if ack:
        client.xack(stream, group, *ids[:ack])


def test_a_slow_groups_pending_entries_survive_while_acked_history_is_trimmed(
    client: redis.Redis, stream: str
) -> None:
    """The fast group read and acknowledged all 1,000 entries; the slow one acknowledged 500,
    holds 100 pending and has 400 to come. Trimming towards 100 entries removes acknowledged
    history only: ``XADD MAXLEN ~ 100`` would have dropped the slow group's 500."""
    ids = _fill(client, stream, 1000)
    for group in ("fast", "slow"):
        client.xgroup_create(stream, group, id="0")
    _read_and_ack(client, stream, "fast", 1000, ack=1000)
    _read_and_ack(client, stream, "slow", 600, ack=500)

    assert safe_floor(client, stream) == tuple(int(p) for p in ids[500].decode().split("-"))
    removed = trim_stream(client, stream, maxlen=100)

    left = [entry_id for entry_id, _ in client.xrange(stream)]
    assert removed > 0 and len(left) == 1000 - removed
    assert left[-500:] == ids[500:]  # every pending and undelivered entry kept
    assert removed >= 400  # most of the acknowledged history went (~: whole 100-entry nodes)
    pending = client.xpending_range(stream, "slow", "-", "+", 1000)
    assert [p["message_id"] for p in pending] == ids[500:600]
    rest = client.xreadgroup("slow", "c", {stream: ">"}, count=1000)
    assert [entry_id for entry_id, _ in rest[0][1]] == ids[600:]


def test_a_group_that_read_nothing_keeps_the_whole_stream(client: redis.Redis, stream: str) -> None:
    ids = _fill(client, stream, 500)
    client.xgroup_create(stream, "fast", id="0")
    client.xgroup_create(stream, "idle", id="0")
    _read_and_ack(client, stream, "fast", 500, ack=500)
    assert trim_stream(client, stream, maxlen=100) == 0
    assert [entry_id for entry_id, _ in client.xrange(stream)] == ids


def test_a_stream_without_groups_is_trimmed_to_about_maxlen(
    client: redis.Redis, stream: str
) -> None:
    _fill(client, stream, 1000)
    assert safe_floor(client, stream) is None
    removed = trim_stream(client, stream, maxlen=300)
    assert 600 <= removed <= 700 and client.xlen(stream) == 1000 - removed
    assert trim_stream(client, stream, maxlen=client.xlen(stream)) == 0


def test_the_bus_trims_as_it_publishes_without_losing_a_subscribers_events(
    client: redis.Redis, stream: str
) -> None:
    prefix = stream.removesuffix(":t")
    clock = SimulatedClock(0)
    producer = RedisStreamsBus(
        client, clock, group="p", consumer="p", prefix=prefix, maxlen=100, trim_every=100
    )
    slow = RedisStreamsBus(client, clock, group="slow", consumer="w1", prefix=prefix)
    seen: list[int] = []
    slow.subscribe("t", lambda e: seen.append(e.payload["i"]))
    for start in range(0, 1000, 100):
        producer.publish_many("t", [{"i": i} for i in range(start, start + 100)], source="s")
    assert client.xlen(stream) == 1000  # the slow group has read nothing: nothing trimmed
    while slow.poll(count=250):
        pass
    assert seen == list(range(1000))
    producer.publish_many("t", [{"i": 1000 + i} for i in range(100)], source="s")
    assert producer.counters.trimmed >= 900  # all of it acknowledged: trimmed towards 100
