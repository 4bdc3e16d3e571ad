"""The event bus (port, envelope, in-process transport) and the versioned policy store."""

from quantum_trader.bus.envelope import Event, to_payload
from quantum_trader.bus.in_process import HandlerError, InProcessBus
from quantum_trader.bus.port import EventBus, Handler, Subscription

__all__ = [
    "Event",
    "EventBus",
    "Handler",
    "HandlerError",
    "InProcessBus",
    "Subscription",
    "to_payload",
]
