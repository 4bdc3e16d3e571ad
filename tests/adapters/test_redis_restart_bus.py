"""Redis restarted mid-run (it keeps nothing on disk here; issue 21): the bus notices from the
server's state, numbers new events apart from every event issued before, recreates its
consumer groups and reports what it cannot recover. The handler's effects and the
``SqlProcessedIds`` marks live in PostgreSQL and survive the restart: they show every event
after it handled once and none before it handled twice.

Each test runs its own ``redis-server`` (``tests/redis_server.py``), restarted empty."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import pytest
import redis
import structlog
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, select

from quantum_trader.adapters.redis_streams import RedisStreamsBus, SqlProcessedIds
from quantum_trader.bus import Event
from quantum_trader.clock import SimulatedClock
from tests.redis_server import RedisServer, redis_server  # noqa: F401

_metadata = MetaData()
#: the handler's effect: one row per handling, so handling an event twice gives two rows
effects = Table(
    "bus_restart_effects",
    _metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(256), nullable=False),
)


@pytest.fixture
def store(postgres_engine: Engine) -> SqlProcessedIds:
    _metadata.create_all(postgres_engine)
    return SqlProcessedIds(postgres_engine, wall_ms=lambda: int(time.time() * 1000))


@pytest.fixture
def clients(redis_server: RedisServer) -> Iterator[Callable[[], redis.Redis]]:  # noqa: F811
    """New clients of the private server (one per bus: one per process in a deployment)."""
    made: list[redis.Redis] = []

    def make() -> redis.Redis:
        made.append(redis.Redis.from_url(redis_server.url))
        return made[-1]

    yield make
    for c in made:
        c.close()


def _bus(client: redis.Redis, consumer: str, **kw: object) -> RedisStreamsBus:
    return RedisStreamsBus(client, SimulatedClock(0), group="svc", consumer=consumer, **kw)  # type: ignore[arg-type]


def _effect(engine: Engine, store: SqlProcessedIds) -> Callable[[Event], None]:
    """The effect and the mark in one PostgreSQL transaction."""

    def handle(event: Event) -> None:
        with engine.begin() as conn:
            conn.execute(insert(effects).values(event_id=event.id))
            store.mark_in(conn, "svc", event.id)

    return handle


def _rows(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(r.event_id for r in conn.execute(select(effects.c.event_id)))


def _drain(bus: RedisStreamsBus) -> int:
    total = 0
    while (n := bus.poll(count=2)) > 0:
        total += n
    return total


def _restarts(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [line for line in logs if line["event"] == "bus_redis_restarted"]


def test_after_a_restart_every_new_event_is_handled_once_and_none_before_twice(
    clients: Callable[[], redis.Redis], redis_server: RedisServer,  # noqa: F811
    postgres_engine: Engine, store: SqlProcessedIds,
) -> None:  # fmt: skip
    publisher = _bus(clients(), "p")
    consumer = _bus(clients(), "w1", processed=store)
    consumer.subscribe("t", _effect(postgres_engine, store))
    before = [publisher.publish("t", {"i": i}, source="s") for i in range(5)]
    assert _drain(consumer) == 5
    unhandled = [publisher.publish("t", {"i": i}, source="s") for i in range(5, 8)]
    epoch = redis_server.run_id()

    redis_server.restart()  # every key gone: streams, groups, pending lists, the sequence
    assert redis_server.run_id() != epoch
    with structlog.testing.capture_logs() as logs:
        after = [publisher.publish("t", {"i": i}, source="s") for i in range(8, 13)]
        assert _drain(consumer) == 5

    rows = _rows(postgres_engine)
    assert rows == Counter(e.id for e in before + after)  # each once, the lost three never
    assert not {e.id for e in after} & {e.id for e in before + unhandled}
    assert consumer.counters.duplicates == 0 and consumer.counters.delivered == 10
    assert publisher.counters.redis_restarts == 1 and consumer.counters.redis_restarts == 1
    # what each knows: the publisher issued up to 8 on "t", the consumer handled up to 5
    reports = {line["consumer"]: line for line in _restarts(logs)}
    assert reports["p"]["last_sequence"] == {"t": unhandled[-1].sequence}
    assert reports["w1"]["last_sequence"] == {"t": before[-1].sequence}
    assert reports["w1"]["pending_before"] == 0
    assert consumer.last_restart is not None
    assert consumer.last_restart.last_sequence == {"t": before[-1].sequence}
    assert [e.sequence for e in after] == list(range(9, 14))  # numbering goes on above 8


def test_a_service_started_after_the_restart_is_not_fooled_by_old_marks(
    clients: Callable[[], redis.Redis], redis_server: RedisServer,  # noqa: F811
    postgres_engine: Engine, store: SqlProcessedIds,
) -> None:  # fmt: skip
    """Defect 1 alone: the sequence restarted at 1, so new events took ids already marked in
    PostgreSQL and were acknowledged as duplicates, never handled."""
    first = _bus(clients(), "w1", processed=store)
    first.subscribe("t", _effect(postgres_engine, store))
    for i in range(3):
        first.publish("t", {"i": i}, source="s")
    assert _drain(first) == 3

    redis_server.restart()
    # the whole service restarted too: new bus objects, nothing remembered but PostgreSQL
    publisher = _bus(clients(), "p")
    second = _bus(clients(), "w1", processed=store)
    second.subscribe("t", _effect(postgres_engine, store))
    after = [publisher.publish("t", {"i": i}, source="s") for i in range(3)]
    assert _drain(second) == 3
    assert second.counters.duplicates == 0
    rows = _rows(postgres_engine)
    assert sum(rows.values()) == 6 and set(rows.values()) == {1}
    assert {e.id for e in after} <= rows.keys()


def test_a_consumer_keeps_receiving_after_its_groups_vanished(
    clients: Callable[[], redis.Redis],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """Defect 2: after the restart ``XREADGROUP`` answers NOGROUP; the consumer recreates its
    groups (on each subscribed topic), whether or not anything was published since."""
    seen: list[tuple[str, int]] = []
    client = clients()
    bus = _bus(client, "w1")
    bus.subscribe("a", lambda e: seen.append(("a", e.sequence)))
    bus.subscribe("b", lambda e: seen.append(("b", e.sequence)))
    bus.publish("a", {}, source="s")
    assert _drain(bus) == 1

    redis_server.restart()
    assert bus.poll(block_ms=20) == 0  # nothing there yet: no NOGROUP error either
    assert bus.counters.redis_restarts == 1
    for stream in ("qt:a", "qt:b"):
        groups: Any = client.xinfo_groups(stream)
        assert [g["name"] for g in groups] == [b"svc"]
    other = _bus(clients(), "p")
    other.publish("b", {}, source="s")
    other.publish("a", {}, source="s")
    assert _drain(bus) == 2
    assert sorted(topic for topic, _ in seen) == ["a", "a", "b"]
    assert bus.counters.redis_restarts == 1  # detected once


def test_a_worker_whose_colleague_recreated_the_group_still_notices(
    clients: Callable[[], redis.Redis],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """No NOGROUP for the second worker (the group exists again): the restart is seen in the
    server's state all the same, and its report says it had an entry pending."""
    calls: list[int] = []

    def fails_on_first(event: Event) -> None:
        calls.append(event.sequence)
        if event.sequence == 1:
            raise RuntimeError("boom")

    w1 = _bus(clients(), "w1", claim_idle_ms=60_000)
    w2 = _bus(clients(), "w2", claim_idle_ms=60_000)
    w1.subscribe("t", fails_on_first)
    w2.subscribe("t", lambda e: calls.append(e.sequence))
    for i in range(2):
        w1.publish("t", {"i": i}, source="s")
    w1.poll(count=10)  # 1 fails (left pending on w1), 2 handled
    assert w1.counters.failed == 1

    redis_server.restart()
    with structlog.testing.capture_logs() as logs:
        w2.poll()  # recreates the group
        w2.publish("t", {}, source="s")
        w1.poll()
    assert w1.counters.redis_restarts == 1 and w2.counters.redis_restarts == 1
    report = {line["consumer"]: line for line in _restarts(logs)}["w1"]
    assert report["pending_before"] == 1 and report["last_sequence"] == {"t": 2}
    assert report["epoch_before"] != report["epoch_after"]
    assert report["detected_by"] == "read"  # in the read it makes anyway, no NOGROUP


def test_several_publishers_never_reuse_an_id_across_the_restart(
    clients: Callable[[], redis.Redis],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """Two publishing processes share the numbering; after the restart the one that knew the
    lower number publishes first: ids stay unique, each publisher's numbers keep rising."""
    p1, p2 = _bus(clients(), "p1"), _bus(clients(), "p2")
    issued: dict[str, list[Event]] = {"p1": [], "p2": []}
    for _ in range(3):
        issued["p1"].append(p1.publish("t", {}, source="p1"))
        issued["p2"].extend(p2.publish_many("t", [{}, {}], source="p2"))
    redis_server.restart()
    issued["p1"].extend(p1.publish_many("t", [{}, {}], source="p1"))
    issued["p2"].append(p2.publish("t", {}, source="p2"))
    issued["p1"].append(p1.publish("t", {}, source="p1"))

    ids = [e.id for events in issued.values() for e in events]
    assert len(ids) == len(set(ids)) == 13
    for events in issued.values():
        sequences = [e.sequence for e in events]
        assert sequences == sorted(set(sequences))
    assert p1.counters.redis_restarts == 1 and p2.counters.redis_restarts == 1


def test_an_outage_longer_than_the_client_retries_raises_then_recovers(
    clients: Callable[[], redis.Redis], redis_server: RedisServer,  # noqa: F811
    postgres_engine: Engine, store: SqlProcessedIds,
) -> None:  # fmt: skip
    """Redis down beyond redis-py's retries: the error reaches the service's loop; once Redis
    is back the next calls detect the restart and go on (the consumer at its claim, which
    answers NOGROUP)."""
    publisher = _bus(clients(), "p")
    consumer = _bus(clients(), "w1", processed=store, claim_idle_ms=1)
    consumer.subscribe("t", _effect(postgres_engine, store))
    before = [publisher.publish("t", {"i": i}, source="s") for i in range(2)]
    assert _drain(consumer) == 2

    redis_server.kill()
    with pytest.raises(redis.ConnectionError):
        publisher.publish("t", {}, source="s")
    with pytest.raises(redis.ConnectionError):
        consumer.poll()
    redis_server.start()
    after = [publisher.publish("t", {"i": i}, source="s") for i in range(2)]
    assert _drain(consumer) == 2
    assert _rows(postgres_engine) == Counter(e.id for e in before + after)
    assert consumer.counters.redis_restarts == 1 and publisher.counters.redis_restarts == 1
    assert consumer.last_restart is not None and consumer.last_restart.detected_by == "nogroup"


def test_a_restart_in_the_middle_of_a_batch_repeats_no_effect(
    clients: Callable[[], redis.Redis],
    redis_server: RedisServer,  # noqa: F811
    postgres_engine: Engine,
    store: SqlProcessedIds,
) -> None:
    """Redis restarts while a handler runs, after its effect and mark committed and before
    the batch's acknowledgement: the rest of the batch is handled, nothing is delivered
    twice, and the events published afterwards are handled once."""
    effect = _effect(postgres_engine, store)

    def restarting(event: Event) -> None:
        effect(event)
        if event.sequence == 2:
            redis_server.restart()

    publisher = _bus(clients(), "p")
    consumer = _bus(clients(), "w1", processed=store)
    consumer.subscribe("t", restarting)
    before = publisher.publish_many("t", [{"i": i} for i in range(4)], source="s")
    assert consumer.poll(count=10) == 4  # one batch; its acknowledgement reached an empty Redis
    after = publisher.publish_many("t", [{"i": i} for i in range(3)], source="s")
    assert _drain(consumer) == 3

    assert _rows(postgres_engine) == Counter(e.id for e in before + after)
    assert consumer.counters.redis_restarts == 1 and consumer.counters.duplicates == 0
    assert consumer.last_restart is not None
    assert consumer.last_restart.last_sequence == {"t": 4}


def test_a_group_deleted_without_a_restart_is_recreated_and_not_counted_as_one(
    clients: Callable[[], redis.Redis],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """NOGROUP while the epoch is unchanged (the group destroyed by hand): recreated, logged
    as such, not reported as a restart."""
    client = clients()
    seen: list[int] = []
    bus = _bus(client, "w1", claim_idle_ms=1)
    bus.subscribe("t", lambda e: seen.append(e.sequence))
    bus.publish("t", {}, source="s")
    assert _drain(bus) == 1
    client.xgroup_destroy("qt:t", "svc")
    bus.publish("t", {}, source="s")
    time.sleep(0.005)  # the claim is due: XAUTOCLAIM answers NOGROUP
    with structlog.testing.capture_logs() as logs:
        assert _drain(bus) == 2  # recreated at id 0: the stream's whole history again
    assert seen == [1, 1, 2] and bus.counters.redis_restarts == 0
    assert [line["event"] for line in logs] == ["bus_group_recreated"]
