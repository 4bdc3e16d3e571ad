"""The mark in the handler's own transaction closes the window the Redis store leaves open
(a crash after the handler's effect, before the mark), on SQLite and PostgreSQL."""

import time
from collections.abc import Callable

import pytest
import redis
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import IntegrityError

from quantum_trader.adapters.redis_streams import (
    RedisProcessedIds,
    RedisStreamsBus,
    SqlProcessedIds,
)
from quantum_trader.bus import Event
from quantum_trader.clock import SimulatedClock

_effects_metadata = MetaData()
#: the handler's effect: one row per handling, so a second effect is a second row
effects = Table(
    "bus_test_effects",
    _effects_metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(256), nullable=False),
)


class Crash(BaseException):
    """The process dying inside the handler."""


@pytest.fixture
def store(db_engine: Engine) -> SqlProcessedIds:
    _effects_metadata.create_all(db_engine)
    ids = SqlProcessedIds(db_engine, wall_ms=lambda: int(time.time() * 1000))
    return ids


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(effects)).scalar_one())


def _run_twice(
    client: redis.Redis, prefix: str, first: Callable[[Event], None],
    then: Callable[[Event], None], processed: SqlProcessedIds | RedisProcessedIds,
) -> None:  # fmt: skip
    """``first`` handles the event and dies; after claim_idle_ms another worker, ``then``."""
    w1 = RedisStreamsBus(
        client, SimulatedClock(0), group="svc", consumer="w1", prefix=prefix,
        claim_idle_ms=5, processed=processed,
    )  # fmt: skip
    w1.subscribe("t", first)
    w1.publish("t", {"i": 0}, source="s")
    with pytest.raises(Crash):
        w1.poll()
    time.sleep(0.02)
    w2 = RedisStreamsBus(
        client, SimulatedClock(0), group="svc", consumer="w2", prefix=prefix,
        claim_idle_ms=5, processed=processed,
    )  # fmt: skip
    w2.subscribe("t", then)
    w2.poll()
    assert client.xpending(f"{prefix}:t", "svc")["pending"] == 0


def test_a_crash_before_commit_leaves_neither_effect_nor_mark(
    client: redis.Redis, prefix: str, db_engine: Engine, store: SqlProcessedIds
) -> None:
    def effect(event: Event, crash: bool) -> None:
        with db_engine.begin() as conn:
            conn.execute(insert(effects).values(event_id=event.id))
            store.mark_in(conn, "svc", event.id)
            if crash:
                raise Crash

    _run_twice(
        client, prefix, lambda e: effect(e, crash=True), lambda e: effect(e, crash=False), store
    )
    assert _count(db_engine) == 1


def test_a_crash_after_commit_is_a_duplicate_on_redelivery(
    client: redis.Redis, prefix: str, db_engine: Engine, store: SqlProcessedIds
) -> None:
    def effect(event: Event) -> None:
        with db_engine.begin() as conn:
            conn.execute(insert(effects).values(event_id=event.id))
            store.mark_in(conn, "svc", event.id)

    def effect_then_crash(event: Event) -> None:
        effect(event)
        raise Crash  # committed: only the acknowledgement is missing

    _run_twice(client, prefix, effect_then_crash, effect, store)
    assert _count(db_engine) == 1


def test_the_redis_store_repeats_an_effect_committed_before_the_mark(
    client: redis.Redis, prefix: str, db_engine: Engine, store: SqlProcessedIds
) -> None:
    """The control: the window of ``RedisProcessedIds`` (mark after the handler returned)."""

    def effect(event: Event) -> None:
        with db_engine.begin() as conn:
            conn.execute(insert(effects).values(event_id=event.id))

    def effect_then_crash(event: Event) -> None:
        effect(event)
        raise Crash

    _run_twice(client, prefix, effect_then_crash, effect, RedisProcessedIds(client, prefix=prefix))
    assert _count(db_engine) == 2


def test_two_workers_cannot_both_commit_one_event(
    db_engine: Engine, store: SqlProcessedIds
) -> None:
    with db_engine.begin() as conn:
        conn.execute(insert(effects).values(event_id="run:1"))
        store.mark_in(conn, "svc", "run:1")
    with pytest.raises(IntegrityError), db_engine.begin() as conn:
        conn.execute(insert(effects).values(event_id="run:1"))
        store.mark_in(conn, "svc", "run:1")
    assert _count(db_engine) == 1
    assert store.processed("svc", ["run:1", "run:2"]) == {"run:1"}
    assert store.processed("risk", ["run:1"]) == set()
    store.mark("svc", "run:2")  # the handler marks: the bus's mark is a no-op
    assert store.processed("svc", ["run:2"]) == set()
    assert store.forget_before(int(time.time() * 1000) + 1) == 1
    assert store.processed("svc", ["run:1"]) == set()
