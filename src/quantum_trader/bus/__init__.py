"""The event bus (port, envelope, typed topics, in-process transport) and the policy store."""

from quantum_trader.bus.codec import Topic, topic
from quantum_trader.bus.envelope import Event, to_payload
from quantum_trader.bus.in_process import HandlerError, InProcessBus
from quantum_trader.bus.port import EventBus, Handler, Subscription
from quantum_trader.bus.typed import publish_event, subscribe_records

__all__ = [
    "Event",
    "EventBus",
    "Handler",
    "HandlerError",
    "InProcessBus",
    "Subscription",
    "Topic",
    "publish_event",
    "subscribe_records",
    "to_payload",
    "topic",
]
