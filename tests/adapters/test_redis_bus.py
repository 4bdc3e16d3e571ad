import uuid
from collections.abc import Iterator

import pytest
import redis

from quantum_trader.adapters.redis_bus import RedisStreamsBus
from quantum_trader.bus import Event
from quantum_trader.clock import SimulatedClock


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    p = f"qt-test-{uuid.uuid4().hex[:8]}"
    yield p
    for key in client.scan_iter(f"{p}:*"):
        client.delete(key)


def test_events_cross_processes_with_the_same_envelope(client: redis.Redis, prefix: str) -> None:
    clock = SimulatedClock(42)
    producer = RedisStreamsBus(client, clock, group="ai", consumer="p", prefix=prefix)
    consumer = RedisStreamsBus(client, clock, group="ai", consumer="w1", prefix=prefix)
    seen: list[Event] = []
    consumer.subscribe("market.candle.closed", seen.append)
    sent = [producer.publish("market.candle.closed", {"i": i}, source="feed") for i in range(3)]
    assert consumer.poll() == 3
    assert seen == sent
    assert [e.sequence for e in seen] == sorted(e.sequence for e in seen)


def test_workers_of_one_group_share_events(client: redis.Redis, prefix: str) -> None:
    clock = SimulatedClock(0)
    producer = RedisStreamsBus(client, clock, group="g", consumer="p", prefix=prefix)
    w1 = RedisStreamsBus(client, clock, group="ai", consumer="w1", prefix=prefix)
    w2 = RedisStreamsBus(client, clock, group="ai", consumer="w2", prefix=prefix)
    got1: list[int] = []
    got2: list[int] = []
    w1.subscribe("t", lambda e: got1.append(e.payload["i"]))
    w2.subscribe("t", lambda e: got2.append(e.payload["i"]))
    for i in range(4):
        producer.publish("t", {"i": i}, source="s")
    w1.poll(count=2)
    w2.poll(count=10)
    assert sorted(got1 + got2) == [0, 1, 2, 3]
    assert got1 and got2


def test_failed_handler_leaves_event_pending_for_redelivery(
    client: redis.Redis, prefix: str
) -> None:
    clock = SimulatedClock(0)
    bus = RedisStreamsBus(client, clock, group="svc", consumer="w1", prefix=prefix)
    calls: list[int] = []

    def flaky(event: Event) -> None:
        calls.append(event.sequence)
        if len(calls) == 1:
            raise RuntimeError("crash mid-handler")

    bus.subscribe("t", flaky)
    bus.publish("t", {}, source="s")
    with pytest.raises(RuntimeError):
        bus.poll()
    # The restarted consumer (same name) gets the unacknowledged event again.
    restarted = RedisStreamsBus(client, clock, group="svc", consumer="w1", prefix=prefix)
    restarted.subscribe("t", flaky)
    assert restarted.poll() == 1
    assert len(calls) == 2 and calls[0] == calls[1]


def test_wildcards_are_refused(client: redis.Redis, prefix: str) -> None:
    bus = RedisStreamsBus(client, SimulatedClock(0), group="g", consumer="c", prefix=prefix)
    with pytest.raises(ValueError, match="exact topics"):
        bus.subscribe("execution.*", lambda e: None)
