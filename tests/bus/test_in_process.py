import pytest

from quantum_trader.bus import Event, HandlerError, InProcessBus
from quantum_trader.bus.envelope import to_payload
from quantum_trader.clock import SimulatedClock
from quantum_trader.domain import Candle


def test_delivery_order_is_breadth_first_and_deterministic() -> None:
    clock = SimulatedClock(5)
    bus = InProcessBus(clock, run_id="r")
    seen: list[str] = []

    def first(ev: Event) -> None:
        seen.append(f"first:{ev.type}")
        if ev.type == "a.x":
            bus.publish("b.y", {}, source="t")

    bus.subscribe("*", first)
    bus.subscribe("a.*", lambda ev: seen.append(f"second:{ev.type}"))
    ev = bus.publish("a.x", {"k": 1}, source="test")
    assert seen == ["first:a.x", "second:a.x", "first:b.y"]
    assert (ev.id, ev.sequence, ev.time, ev.source) == ("r:1", 1, 5, "test")


def test_failing_handler_does_not_starve_others_and_is_reported() -> None:
    bus = InProcessBus(SimulatedClock(0))
    seen: list[int] = []

    def boom(_: Event) -> None:
        raise RuntimeError("bad")

    bus.subscribe("t", boom)
    bus.subscribe("t", lambda ev: seen.append(ev.sequence))
    with pytest.raises(HandlerError, match="RuntimeError"):
        bus.publish("t", {}, source="s")
    assert seen == [1]


def test_cancelled_subscription_stops_delivery() -> None:
    bus = InProcessBus(SimulatedClock(0))
    seen: list[int] = []
    sub = bus.subscribe("t", lambda ev: seen.append(ev.sequence))
    bus.publish("t", {}, source="s")
    sub.cancel()
    bus.publish("t", {}, source="s")
    assert seen == [1]


def test_envelope_round_trips_through_json() -> None:
    bus = InProcessBus(SimulatedClock(7), run_id="run")
    candle = Candle("BTCUSDT", "1h", 0, 1.0, 2.0, 0.5, 1.5, 10.0)
    ev = bus.publish("market.candle.closed", to_payload(candle), source="market_data")
    back = Event.from_json(ev.to_json())
    assert back == ev
    assert back.payload["close"] == 1.5


def test_publish_record_is_publish_of_the_zipped_payload() -> None:
    """Subscribers and recorders cannot tell ``publish_record`` from ``publish``; without a
    subscriber only the recorders see it (no envelope is built)."""
    clock = SimulatedClock(7)
    bus = InProcessBus(clock, run_id="r")
    recorded: list[tuple[object, ...]] = []
    bus.recorders.append(lambda *event: recorded.append(event))
    bus.publish_record("a.x", ("k", "v"), (1, None), source="s")  # nobody subscribed yet
    seen: list[Event] = []
    bus.subscribe("a.*", seen.append)
    bus.publish_record("a.x", ("k", "v"), (2, "z"), source="s")
    bus.publish("a.x", {"k": 3, "v": 1.5}, source="s")
    assert [(e.id, e.sequence, e.time, e.source, dict(e.payload)) for e in seen] == [
        ("r:2", 2, 7, "s", {"k": 2, "v": "z"}),
        ("r:3", 3, 7, "s", {"k": 3, "v": 1.5}),
    ]
    assert recorded == [
        ("a.x", 7, "s", ("k", "v"), (1, None)),
        ("a.x", 7, "s", ("k", "v"), (2, "z")),
        ("a.x", 7, "s", ("k", "v"), (3, 1.5)),
    ]
    assert bus.published == {"a.x": 3} and bus.sequence == 3
