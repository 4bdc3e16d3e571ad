"""A dead consumer's entries taken over (XAUTOCLAIM), dead letters after K deliveries, and
redelivered events without a second effect, against the real Redis."""

import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
import redis

from quantum_trader.adapters.redis_streams import (
    MemoryProcessedIds,
    RedisProcessedIds,
    RedisStreamsBus,
)
from quantum_trader.bus import Event
from quantum_trader.clock import SimulatedClock

#: a consumer that reads every entry and hangs in the first handler until it is killed
DOOMED_CONSUMER = """
import sys, time
import redis
from quantum_trader.adapters.redis_streams import RedisStreamsBus
from quantum_trader.clock.clock import SimulatedClock

bus = RedisStreamsBus(
    redis.Redis.from_url(sys.argv[1]), SimulatedClock(0), group="svc", consumer="doomed",
    prefix=sys.argv[2],
)

def handler(event):
    print("handling", event.id, flush=True)
    time.sleep(60)

bus.subscribe("t", handler)
bus.poll(count=100)
"""


class Crash(BaseException):
    """A process dying mid-handler: not an ``Exception``, so the bus does not catch it."""


def _bus(client: redis.Redis, prefix: str, consumer: str, **options: Any) -> RedisStreamsBus:
    return RedisStreamsBus(
        client, SimulatedClock(0), group="svc", consumer=consumer, prefix=prefix, **options
    )


def _pending(client: redis.Redis, prefix: str) -> list[tuple[bytes, int]]:
    rows = client.xpending_range(f"{prefix}:t", "svc", "-", "+", 1000)
    return [(row["consumer"], row["times_delivered"]) for row in rows]


def test_a_killed_consumers_pending_entries_are_claimed_and_drained(
    client: redis.Redis, prefix: str, redis_url: str
) -> None:
    """A real process, SIGKILLed inside its first handler with five entries read: another
    consumer of its group takes them over with XAUTOCLAIM once idle, and the pending list
    drains."""
    survivor = _bus(client, prefix, "survivor", claim_idle_ms=200)
    seen: list[str] = []
    survivor.subscribe("t", lambda e: seen.append(e.id))
    sent = [survivor.publish("t", {"i": i}, source="s").id for i in range(5)]

    child = subprocess.Popen(
        [sys.executable, "-c", DOOMED_CONSUMER, redis_url, prefix],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 20)
        assert ready, "the doomed consumer never started handling"
        assert child.stdout.readline().split() == ["handling", sent[0]]
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert _pending(client, prefix) == [(b"doomed", 1)] * 5

    assert survivor.poll() == 0  # not idle for claim_idle_ms yet: the owner may be alive
    time.sleep(0.25)
    assert survivor.poll() == 5
    assert seen == sent
    assert survivor.counters.claimed == 5
    assert client.xpending(f"{prefix}:t", "svc")["pending"] == 0


def test_an_entry_whose_handler_keeps_failing_is_dead_lettered_after_k_deliveries(
    client: redis.Redis, prefix: str
) -> None:
    bus = _bus(client, prefix, "w1", claim_idle_ms=5, max_deliveries=3)
    calls: list[int] = []
    handled: list[int] = []

    def handler(event: Event) -> None:
        calls.append(event.payload["i"])
        if event.payload["i"] == 1:
            raise ValueError("price is NaN")
        handled.append(event.payload["i"])

    bus.subscribe("t", handler)
    sent = [bus.publish("t", {"i": i}, source="s") for i in range(3)]
    bus.poll()
    for _ in range(2):  # two retries, each after claim_idle_ms
        assert client.xlen(f"{prefix}:dead:t") == 0
        time.sleep(0.02)
        bus.poll()

    assert handled == [0, 2] and calls.count(1) == 3
    dead = client.xrange(f"{prefix}:dead:t")
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields[b"error"] == b"ValueError: price is NaN"
    assert fields[b"deliveries"] == b"3" and fields[b"group"] == b"svc"
    assert Event.from_json(fields[b"event"].decode()) == sent[1]
    assert client.xpending(f"{prefix}:t", "svc")["pending"] == 0
    assert bus.counters.dead_lettered == 1 and bus.counters.failed == 3


def test_an_entry_whose_handler_never_returns_is_dead_lettered_unhandled(
    client: redis.Redis, prefix: str
) -> None:
    """A poison event that kills every consumer it reaches: after K deliveries the next
    consumer to claim it dead-letters it without calling the handler again."""
    calls: list[str] = []

    def crash(event: Event) -> None:
        calls.append(event.id)
        raise Crash

    first = _bus(client, prefix, "w1", claim_idle_ms=5, max_deliveries=2)
    first.subscribe("t", crash)
    first.publish("t", {"i": 0}, source="s")
    with pytest.raises(Crash):
        first.poll()
    time.sleep(0.02)
    second = _bus(client, prefix, "w2", claim_idle_ms=5, max_deliveries=2)
    second.subscribe("t", crash)
    with pytest.raises(Crash):
        second.poll()
    time.sleep(0.02)
    third = _bus(client, prefix, "w3", claim_idle_ms=5, max_deliveries=2)
    third.subscribe("t", crash)
    assert third.poll() == 0

    assert len(calls) == 2
    ((_, fields),) = client.xrange(f"{prefix}:dead:t")
    assert fields[b"deliveries"] == b"3"
    assert b"did not return in 2 deliveries" in fields[b"error"]
    assert client.xpending(f"{prefix}:t", "svc")["pending"] == 0


def test_an_undecodable_entry_is_dead_lettered_at_once(client: redis.Redis, prefix: str) -> None:
    bus = _bus(client, prefix, "w1")
    seen: list[int] = []
    bus.subscribe("t", lambda e: seen.append(e.payload["i"]))
    client.xadd(f"{prefix}:t", {"event": "{not json"})
    bus.publish("t", {"i": 1}, source="s")
    assert bus.poll() == 1
    assert seen == [1]
    ((_, fields),) = client.xrange(f"{prefix}:dead:t")
    assert fields[b"event"] == b"{not json" and fields[b"error"].startswith(b"JSONDecodeError")
    assert client.xpending(f"{prefix}:t", "svc")["pending"] == 0


class AckLost(redis.Redis):
    """A client whose next transaction (the bus's acknowledgements) fails on the wire: the
    handler's effect happened, the acknowledgement did not."""

    lose_next = False

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction=transaction, shard_hint=shard_hint)
        if transaction and self.lose_next:
            self.lose_next = False

            def lost(*args: Any, **kwargs: Any) -> Any:
                pipe.reset()
                raise redis.ConnectionError("connection lost before the acknowledgement")

            pipe.execute = lost  # type: ignore[method-assign]
        return pipe


@pytest.mark.parametrize("store", ["redis", "memory", None])
def test_a_redelivered_event_has_no_second_effect(
    client: redis.Redis, prefix: str, redis_url: str, store: str | None
) -> None:
    """The handler's effect is done and marked, the acknowledgement is lost; the entry is
    claimed by another worker, which acknowledges it without running the handler. Without a
    store (the control) the effect happens twice: at-least-once delivery."""
    processed = {
        "redis": RedisProcessedIds(client, prefix=prefix),
        "memory": MemoryProcessedIds(),
        None: None,
    }[store]
    flaky = AckLost.from_url(redis_url)
    effects: list[str] = []
    w1 = _bus(flaky, prefix, "w1", claim_idle_ms=5, processed=processed)
    w1.subscribe("t", lambda e: effects.append(e.id))
    w1.publish("t", {"i": 0}, source="s")
    flaky.lose_next = True
    with pytest.raises(redis.ConnectionError):
        w1.poll()
    assert _pending(client, prefix) == [(b"w1", 1)]

    time.sleep(0.02)
    w2 = _bus(client, prefix, "w2", claim_idle_ms=5, processed=processed)
    w2.subscribe("t", lambda e: effects.append(e.id))
    w2.poll()
    assert client.xpending(f"{prefix}:t", "svc")["pending"] == 0
    if processed is None:
        assert len(effects) == 2 and w2.counters.duplicates == 0
    else:
        assert len(effects) == 1 and w2.counters.duplicates == 1
    flaky.close()


def test_an_event_published_twice_is_handled_once(client: redis.Redis, prefix: str) -> None:
    """The same envelope appended again (a publisher's retry, an outbox replay) is a duplicate
    by its event id, even as a new stream entry."""
    bus = _bus(client, prefix, "w1", processed=RedisProcessedIds(client, prefix=prefix))
    effects: list[str] = []
    bus.subscribe("t", lambda e: effects.append(e.id))
    event = bus.publish("t", {"i": 0}, source="s")
    assert bus.poll() == 1
    client.xadd(f"{prefix}:t", {"event": event.to_json()})
    assert bus.poll() == 0
    assert effects == [event.id] and bus.counters.duplicates == 1
    assert client.ttl(f"{prefix}:processed:svc:{event.id}") > 0  # expires: memory is bounded


def test_delivery_counts_of_claimed_entries_among_own_pending_ones(
    client: redis.Redis, prefix: str
) -> None:
    """Claimed entries interleave with the claimer's own (recent) pending entries: each claimed
    entry's delivery count is still found, so all three reach K = 2 and are dead-lettered."""
    w2 = _bus(client, prefix, "w2", claim_idle_ms=50, max_deliveries=2)

    def fail(event: Event) -> None:
        raise RuntimeError("venue down")

    w2.subscribe("t", fail)
    for i in range(6):
        w2.publish("t", {"i": i}, source="s")
    reply = client.xreadgroup("svc", "w1", {f"{prefix}:t": ">"}, count=10)
    ids = [entry_id for entry_id, _ in reply[0][1]]
    time.sleep(0.06)
    client.xclaim(f"{prefix}:t", "svc", "w2", 0, ids[1::2])  # w2's own, just delivered
    w2.claim()
    dead = client.xrange(f"{prefix}:dead:t")
    assert [fields[b"entry"] for _, fields in dead] == ids[0::2]
    assert [fields[b"deliveries"] for _, fields in dead] == [b"2"] * 3
    assert _pending(client, prefix) == [(b"w2", 2)] * 3
