"""The dead letters' tools (``adapters/redis_streams/dead_letters.py``) on a real Redis: a
letter replayed goes to the group that gave up on it and to no other, once, with its event id;
what cannot be replayed is kept and said why; drop and trim delete what they are asked to."""

from __future__ import annotations

import threading
import time
from typing import Any

import redis

from quantum_trader.adapters.redis_streams import DeadLetters, RedisStreamsBus
from quantum_trader.bus import Event
from quantum_trader.clock import SimulatedClock


def _bus(client: redis.Redis, prefix: str, group: str, **options: Any) -> RedisStreamsBus:
    return RedisStreamsBus(
        client, SimulatedClock(0), group=group, consumer=f"{group}-1", prefix=prefix,
        claim_idle_ms=5, **options,
    )  # fmt: skip


class Flaky:
    """A handler that fails on the events whose ``i`` is in ``broken`` until it is fixed."""

    def __init__(self, broken: set[int]) -> None:
        self.broken = broken
        self.handled: list[Event] = []

    def __call__(self, event: Event) -> None:
        if event.payload["i"] in self.broken:
            raise ValueError(f"cannot take {event.payload['i']}")
        self.handled.append(event)


def _dead_letter_one(
    client: redis.Redis, prefix: str
) -> tuple[RedisStreamsBus, RedisStreamsBus, Flaky, Flaky]:
    """Group ``risk`` gives up on event 1 of three (K = 2); group ``audit`` handles all three."""
    risk, audit = _bus(client, prefix, "risk", max_deliveries=2), _bus(client, prefix, "audit")
    risk_handler, audit_handler = Flaky({1}), Flaky(set())
    risk.subscribe("orders", risk_handler)
    audit.subscribe("orders", audit_handler)
    for i in range(3):
        risk.publish("orders", {"i": i}, source="test")
    for _ in range(3):
        risk.poll()
        audit.poll()
        time.sleep(0.01)
    assert risk.counters.dead_lettered == 1 and len(audit_handler.handled) == 3
    return risk, audit, risk_handler, audit_handler


def test_a_replayed_letter_reaches_the_group_that_gave_up_and_no_other(
    client: redis.Redis, prefix: str
) -> None:
    risk, audit, risk_handler, audit_handler = _dead_letter_one(client, prefix)
    letters = DeadLetters(client, prefix)
    (stream,) = letters.streams()
    assert (stream.topic, stream.length) == ("orders", 1)
    (letter,) = letters.letters("orders")
    assert letter.group == "risk" and letter.deliveries == 2
    assert letter.error == "ValueError: cannot take 1" and letter.event is not None
    assert letter.event.payload == {"i": 1}

    risk_handler.broken.clear()  # the cause fixed
    report = letters.replay("orders")
    assert list(report.replayed) == [letter.id] and not report.refused and not report.gone
    assert letters.letters("orders") == [] and letters.streams()[0].length == 0

    assert risk.poll() == 1 and audit.poll() == 0
    assert risk_handler.handled[-1].id == letter.event.id  # the same event, the same id
    assert [e.payload["i"] for e in audit_handler.handled] == [0, 1, 2]  # not a second time
    for group in ("risk", "audit"):
        assert client.xpending(f"{prefix}:orders", group)["pending"] == 0


def test_another_group_blocked_in_a_read_skips_the_replay(client: redis.Redis, prefix: str) -> None:
    """The replay published while ``audit`` waits in a blocking read (the plain command, not
    the read script): it is acknowledged there unread."""
    risk, audit, risk_handler, audit_handler = _dead_letter_one(client, prefix)
    risk_handler.broken.clear()
    got: list[int] = []
    waiting = threading.Thread(target=lambda: got.append(_bus_poll(audit, 3000)))
    waiting.start()
    time.sleep(0.3)
    assert len(DeadLetters(client, prefix).replay("orders").replayed) == 1
    waiting.join(10)
    assert got == [0] and len(audit_handler.handled) == 3
    assert client.xpending(f"{prefix}:orders", "audit")["pending"] == 0
    assert risk.poll() == 1


def _bus_poll(bus: RedisStreamsBus, block_ms: int) -> int:
    return bus.poll(block_ms=block_ms)


def test_a_letter_is_replayed_once_and_what_cannot_be_replayed_is_kept(
    client: redis.Redis, prefix: str
) -> None:
    _dead_letter_one(client, prefix)
    letters = DeadLetters(client, prefix)
    (letter,) = letters.letters("orders")
    dead = f"{prefix}:dead:orders"
    garbage = client.xadd(dead, {"event": b"not json", "error": "x", "deliveries": 1,
                                 "entry": "1-0", "group": "risk", "consumer": "risk-1"})  # fmt: skip
    orphan_event = letter.raw
    orphan = client.xadd(dead, {"event": orphan_event, "error": "x", "deliveries": 5,
                                "entry": "2-0", "group": "gone", "consumer": "g-1"})  # fmt: skip

    first = letters.replay("orders", ids=[letter.id])
    again = letters.replay("orders", ids=[letter.id, "1-1"])
    assert list(first.replayed) == [letter.id]
    assert again.gone == [letter.id, "1-1"] and not again.replayed

    rest = letters.replay("orders")
    assert not rest.replayed
    assert rest.refused == {
        garbage.decode(): "its event is not an envelope: drop it instead",
        orphan.decode(): f"group 'gone' does not exist on {prefix}:orders: nobody would read it",
    }
    assert [d.id for d in letters.letters("orders")] == [garbage.decode(), orphan.decode()]
    assert letters.letters("orders")[0].event is None
    assert letters.replay("orders", group="risk").refused.keys() == {garbage.decode()}
    by_id = letters.replay("orders", ids=[garbage.decode()], group="audit")
    assert by_id.refused == {garbage.decode(): "its group is 'risk', not 'audit'"}
    assert client.xlen(f"{prefix}:orders") == 4  # three published, one replayed


def test_drop_and_trim_delete_what_they_are_asked_to(client: redis.Redis, prefix: str) -> None:
    _dead_letter_one(client, prefix)
    letters = DeadLetters(client, prefix)
    dead = f"{prefix}:dead:orders"
    extra = [client.xadd(dead, {"event": b"{}", "group": "risk"}).decode() for _ in range(3)]
    assert letters.trim("orders", older_than_ms=3_600_000) == 0  # none an hour old
    assert letters.drop("orders", [extra[0], "1-1"]) == 1
    assert len(letters.letters("orders")) == 3
    time.sleep(0.005)
    assert letters.trim("orders", older_than_ms=0) == 3
    assert letters.letters("orders") == []


def test_trim_is_exact_not_by_whole_nodes(client: redis.Redis, prefix: str) -> None:
    """150 old letters and 50 new: Redis keeps 100 entries per node, so an approximate trim
    (``~``) would delete the first node's 100 only."""
    dead = f"{prefix}:dead:orders"
    pipe = client.pipeline(transaction=False)
    for _ in range(150):
        pipe.xadd(dead, {"event": b"{}", "group": "risk"})
    pipe.execute()
    time.sleep(0.3)
    for _ in range(50):
        pipe.xadd(dead, {"event": b"{}", "group": "risk"})
    pipe.execute()
    assert DeadLetters(client, prefix).trim("orders", older_than_ms=150) == 150
    assert client.xlen(dead) == 50


def test_letters_older_than_the_bound_go_when_a_new_one_is_written(
    client: redis.Redis, prefix: str
) -> None:
    """A letter stream is bounded by age (``dead_letter_max_age_ms``, two weeks by default) at
    each new letter, exactly, by the server's clock; ``None`` keeps every letter."""
    dead = f"{prefix}:dead:orders"
    seconds, micros = client.time()
    now_ms = seconds * 1000 + micros // 1000
    day = 24 * 3_600_000
    for age_days in (30, 15, 13, 1):  # 150 entries each: more than one node of 100
        for seq in range(150):
            client.xadd(
                dead, {"event": b"{}", "group": "risk"}, id=f"{now_ms - age_days * day}-{seq}"
            )
    kept_all = _bus(client, prefix, "risk", max_deliveries=1, dead_letter_max_age_ms=None)
    kept_all.subscribe("orders", Flaky({0}))
    kept_all.publish("orders", {"i": 0}, source="test")
    kept_all.poll()
    assert kept_all.counters.dead_lettered == 1 and client.xlen(dead) == 601

    bounded = _bus(client, prefix, "risk2", max_deliveries=1)  # the default: 14 days
    bounded.subscribe("orders", Flaky({0}))
    bounded.poll()
    assert bounded.counters.dead_lettered == 1
    ages = [now_ms - int(entry_id.split(b"-")[0]) for entry_id, _ in client.xrange(dead)]
    assert len(ages) == 302 and max(ages) < 14 * day  # the 13 and 1 days old, and two new


def test_old_letters_of_a_topic_that_gets_no_new_one_go_at_the_next_claim_pass(
    client: redis.Redis, prefix: str
) -> None:
    """They used to stay until ``dead-letters trim``: only a new letter trimmed its stream."""
    dead = f"{prefix}:dead:orders"
    seconds, micros = client.time()
    now_ms = seconds * 1000 + micros // 1000
    day = 24 * 3_600_000
    for age_days in (30, 15, 13, 1):
        for seq in range(150):
            client.xadd(
                dead, {"event": b"{}", "group": "risk"}, id=f"{now_ms - age_days * day}-{seq}"
            )
    kept_all = _bus(client, prefix, "risk", dead_letter_max_age_ms=None)
    kept_all.subscribe("orders", Flaky(set()))
    kept_all.claim()
    assert client.xlen(dead) == 600
    bounded = _bus(client, prefix, "risk2")  # the default: 14 days
    bounded.subscribe("orders", Flaky(set()))
    bounded.publish("orders", {"i": 0}, source="test")  # handled: no new letter
    bounded.poll()
    assert bounded.counters.dead_lettered == 0
    ages = [now_ms - int(entry_id.split(b"-")[0]) for entry_id, _ in client.xrange(dead)]
    assert len(ages) == 300 and max(ages) < 14 * day  # the 13 and 1 days old
