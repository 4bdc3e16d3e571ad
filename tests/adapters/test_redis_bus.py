import re

import pytest
import redis

from quantum_trader.adapters.redis_bus import RedisStreamsBus
from quantum_trader.bus import Event, publish_event, subscribe_records, topics
from quantum_trader.clock import SimulatedClock
from quantum_trader.domain.events import OrderFilled
from quantum_trader.domain.orders import Fill, Order, OrderIntent, OrderStatus, OrderType, Side
from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.risk import Outcome, RiskDecision, TradingState
from quantum_trader.execution.events import FILL_EVENT_KEYS, fill_event_values


def test_events_cross_processes_with_the_same_envelope(client: redis.Redis, prefix: str) -> None:
    clock = SimulatedClock(42)
    producer = RedisStreamsBus(client, clock, group="ai", consumer="p", prefix=prefix)
    consumer = RedisStreamsBus(client, clock, group="ai", consumer="w1", prefix=prefix)
    seen: list[Event] = []
    consumer.subscribe("t", seen.append)
    sent = [producer.publish("t", {"i": i}, source="feed") for i in range(3)]
    assert consumer.poll() == 3
    assert seen == sent
    assert [e.sequence for e in seen] == sorted(e.sequence for e in seen)


def test_typed_records_cross_processes(client: redis.Redis, prefix: str) -> None:
    """Records published in one process arrive as equal records in another, whether published
    through the codec or through the execution fast path (values in the topic's key order)."""
    clock = SimulatedClock(42)
    producer = RedisStreamsBus(client, clock, group="engine", consumer="p", prefix=prefix)
    consumer = RedisStreamsBus(client, clock, group="risk", consumer="w1", prefix=prefix)
    trades: list[Trade] = []
    decisions: list[RiskDecision] = []
    fills: list[OrderFilled] = []
    subscribe_records(consumer, topics.TRADE_CLOSED, trades.append)
    subscribe_records(consumer, topics.RISK_DECISION, decisions.append)
    subscribe_records(consumer, topics.ORDER_FILLED, fills.append)

    trade = Trade("t-1", "BTCUSDT", Side.SELL, 0.5, 100.0, 98.0, 1, 9, 1.0, 0.02, 0.001, "s", "tp")
    intent = OrderIntent("BTCUSDT", Side.BUY, 0.5, OrderType.LIMIT, price=99.5, reason="trend")
    decision = RiskDecision(
        "r:1", Outcome.TRIMMED, intent, 0.25, ("max_leverage: 2x",), 9,
        TradingState.REDUCING, RiskMode.AGGRESSIVE,
    )  # fmt: skip
    order = Order("c-1", "BTCUSDT", Side.BUY, OrderType.LIMIT, 0.5, 5, price=99.5)
    filled = order.apply_fill(0.5, 99.5, 9)
    fill = Fill("c-1-F1", "c-1", "BTCUSDT", Side.BUY, 0.5, 99.5, 0.01, 9)
    publish_event(producer, topics.TRADE_CLOSED, trade, source="execution")
    publish_event(producer, topics.RISK_DECISION, decision, source="risk")
    producer.publish_record(
        topics.ORDER_FILLED.name, FILL_EVENT_KEYS, fill_event_values(fill, filled), source="x"
    )
    assert consumer.poll() == 3
    assert trades == [trade] and decisions == [decision]
    assert fills == [OrderFilled.of(fill, filled)] and fills[0].order_status is OrderStatus.FILLED


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


class Crash(BaseException):
    """A process dying mid-handler: not an ``Exception``, so the bus does not catch it."""


def test_a_failed_handler_leaves_its_entry_pending_and_later_events_flow(
    client: redis.Redis, prefix: str
) -> None:
    bus = RedisStreamsBus(client, SimulatedClock(0), group="svc", consumer="w1", prefix=prefix)
    seen: list[int] = []

    def handler(event: Event) -> None:
        if event.payload["i"] == 1:
            raise RuntimeError("boom")
        seen.append(event.payload["i"])

    bus.subscribe("t", handler)
    for i in range(3):
        bus.publish("t", {"i": i}, source="s")
    assert bus.poll() == 2
    assert seen == [0, 2]
    assert bus.counters.failed == 1 and bus.counters.delivered == 2
    pending = client.xpending_range(f"{prefix}:t", "svc", "-", "+", 10)
    assert [(p["consumer"], p["times_delivered"]) for p in pending] == [(b"w1", 1)]


def test_a_restarted_consumer_reads_its_own_pending_entries_before_new_ones(
    client: redis.Redis, prefix: str
) -> None:
    """Acknowledged only after the handler returned: the crash leaves the crashed entry and
    the unread rest of the batch pending, and the restarted consumer takes them first."""
    clock = SimulatedClock(0)
    first = RedisStreamsBus(client, clock, group="svc", consumer="w1", prefix=prefix)

    def crash_on_1(event: Event) -> None:
        if event.payload["i"] == 1:
            raise Crash

    first.subscribe("t", crash_on_1)
    for i in range(3):
        first.publish("t", {"i": i}, source="s")
    with pytest.raises(Crash):
        first.poll()
    first.publish("t", {"i": 3}, source="s")  # published while w1 is down

    restarted = RedisStreamsBus(client, clock, group="svc", consumer="w1", prefix=prefix)
    seen: list[int] = []
    restarted.subscribe("t", lambda e: seen.append(e.payload["i"]))
    assert restarted.poll() == 3
    assert seen == [1, 2, 3]
    assert client.xpending(f"{prefix}:t", "svc")["pending"] == 0


def test_publish_many_numbers_a_batch_consecutively(client: redis.Redis, prefix: str) -> None:
    clock = SimulatedClock(7)
    producer = RedisStreamsBus(client, clock, group="p", consumer="p", prefix=prefix)
    consumer = RedisStreamsBus(client, clock, group="c", consumer="w1", prefix=prefix)
    seen: list[Event] = []
    consumer.subscribe("t", seen.append)
    single = producer.publish("t", {"i": -1}, source="s")
    batch = producer.publish_many("t", [{"i": i} for i in range(250)], source="s")
    assert [e.sequence for e in batch] == list(range(single.sequence + 1, single.sequence + 251))
    assert len({e.id for e in [single, *batch]}) == 251
    assert producer.publish_many("t", [], source="s") == []
    while consumer.poll(count=100):
        pass
    assert seen == [single, *batch]
    assert consumer.counters.delivered == 251


def test_a_wildcard_reads_every_topic_it_covers_also_ones_that_appear_later(
    client: redis.Redis, prefix: str
) -> None:
    """``execution.*`` reads the catalogue's execution topics, a topic published before it
    subscribed (not in the catalogue), and one published after, once it looks again (each
    ``claim_idle_ms``); not ``risk.decision``, not the dead letters. A second, exact
    subscription on one of its topics gets the same events, after it."""
    clock = SimulatedClock(0)
    publisher = RedisStreamsBus(client, clock, group="pub", consumer="p", prefix=prefix)
    publisher.publish("execution.custom", {"i": 0}, source="s")  # before anyone subscribed
    client.xadd(f"{prefix}:dead:execution.order.filled", {"event": b"{}"})
    wall = [0.0]
    reader = RedisStreamsBus(
        client, clock, group="audit", consumer="a", prefix=prefix, claim_idle_ms=1_000,
        wall=lambda: wall[0],
    )  # fmt: skip
    seen: list[tuple[str, str, int]] = []
    reader.subscribe("execution.*", lambda e: seen.append(("any", e.type, e.payload["i"])))
    reader.subscribe("execution.order.filled", lambda e: seen.append(("one", e.type, 9)))
    covered = {t.name for t in topics.ALL if t.name.startswith("execution.")}
    assert covered | {"execution.custom"} <= {
        name.decode().removeprefix(f"{prefix}:")
        for name in client.scan_iter(f"{prefix}:execution.*", _type="stream")
    }  # every covered stream has its group already

    assert reader.poll() == 1 and seen == [("any", "execution.custom", 0)]
    publisher.publish("execution.order.filled", {"i": 1}, source="s")
    publisher.publish("risk.decision", {"i": 2}, source="s")
    publisher.publish("execution.later", {"i": 3}, source="s")  # a stream new to the reader
    reader.poll()
    assert seen[1:] == [("any", "execution.order.filled", 1), ("one", "execution.order.filled", 9)]
    wall[0] = 1.0  # claim_idle_ms later: it looks for new streams again
    reader.poll()
    assert seen[-1] == ("any", "execution.later", 3) and len(seen) == 4
    assert reader.counters.dead_lettered == 0


def test_everything_and_malformed_patterns(client: redis.Redis, prefix: str) -> None:
    bus = RedisStreamsBus(client, SimulatedClock(0), group="g", consumer="c", prefix=prefix)
    for bad in ("exec*", "execution.*.filled", "*.filled", "a.*.*"):
        with pytest.raises(ValueError, match=re.escape("a pattern is a topic, 'prefix.*' or '*'")):
            bus.subscribe(bad, lambda e: None)
    client.xadd(f"{prefix}:dead:t", {"event": b"{}"})
    seen: list[str] = []
    bus.subscribe("*", lambda e: seen.append(e.type))
    for name in ("t", "risk.decision"):
        bus.publish(name, {}, source="s")
    bus.poll()
    assert sorted(seen) == ["risk.decision", "t"]
    assert not client.exists(f"{prefix}:dead:t") or client.xinfo_groups(f"{prefix}:dead:t") == []


def test_a_topic_that_would_be_one_of_the_bus_keys_is_refused(
    client: redis.Redis, prefix: str
) -> None:
    """``<prefix>:sequence`` numbers events and ``<prefix>:topics`` lists the published topics;
    ``dead:…`` and ``processed:…`` keys have a colon. A topic named so would write its stream
    over one of them (Redis answers WRONGTYPE, or a stream is read as letters): refused first,
    and nothing is written."""
    bus = RedisStreamsBus(client, SimulatedClock(0), group="g", consumer="c", prefix=prefix)
    bus.publish("t", {}, source="s")
    before = sorted(client.keys(f"{prefix}:*"))
    for bad in ("sequence", "topics", "dead:t", "processed:g:x", ""):
        with pytest.raises(ValueError, match=re.escape(f"topic {bad!r} names a key of the Redis")):
            bus.publish(bad, {}, source="s")
        with pytest.raises(ValueError, match=re.escape(f"topic {bad!r} names a key of the Redis")):
            bus.subscribe(bad, lambda e: None)
    assert sorted(client.keys(f"{prefix}:*")) == before
