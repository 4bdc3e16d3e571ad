"""Publish records and subscribe to records, over any :class:`~quantum_trader.bus.port.EventBus`.

Functions over the port rather than methods of each transport: the in-process bus and the Redis
Streams bus carry the same payloads, so the typed layer is written once, above both.
"""

from __future__ import annotations

from collections.abc import Callable

from quantum_trader.bus.codec import R, Topic
from quantum_trader.bus.envelope import Event
from quantum_trader.bus.port import EventBus, Subscription


def publish_event(bus: EventBus, topic: Topic[R], record: R, *, source: str) -> Event:
    """Publish ``record`` on ``topic`` (encoded by the topic's codec)."""
    return bus.publish(topic.name, topic.encode(record), source=source)


def record_of(topic: Topic[R], event: Event) -> R:
    """The record an event of ``topic`` carries (an event read from a stream by hand, not
    delivered by a subscription). A payload that does not decode raises."""
    return topic.decode(event.payload)


def subscribe_records(bus: EventBus, topic: Topic[R], handler: Callable[[R], None]) -> Subscription:
    """Call ``handler`` with the record of every event on ``topic``.

    A payload that does not decode raises in delivery (the in-process bus reports it as a
    :class:`~quantum_trader.bus.in_process.HandlerError` under the handler's name).
    """
    decode = topic.decode

    def deliver(event: Event) -> None:
        handler(decode(event.payload))

    name = getattr(handler, "__qualname__", None)
    if isinstance(name, str):
        deliver.__qualname__ = name  # failures name the subscriber, not this wrapper
    return bus.subscribe(topic.name, deliver)
