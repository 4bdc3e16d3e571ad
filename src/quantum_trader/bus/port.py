"""The bus port. Modules depend on this, never on a concrete transport."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from quantum_trader.bus.envelope import Event, JsonValue

Handler = Callable[[Event], None]


def matches(pattern: str, topic: str) -> bool:
    """Whether a subscription ``pattern`` covers ``topic``: the topic itself, a prefix ending in
    ``.*``, or ``*``.

    >>> matches("execution.*", "execution.order.filled"), matches("execution.*", "risk.decision")
    (True, False)
    """
    if pattern == "*" or pattern == topic:
        return True
    return pattern.endswith(".*") and topic.startswith(pattern[:-1])


class Subscription(Protocol):
    def cancel(self) -> None: ...


class EventBus(Protocol):
    """Publish/subscribe with deterministic delivery order.

    ``pattern`` is a topic, or a prefix ending in ``.*`` (``execution.order.*``), or ``*``.
    """

    def publish(self, type: str, payload: Mapping[str, JsonValue], *, source: str) -> Event: ...

    def publish_record(
        self, type: str, keys: tuple[str, ...], values: tuple[JsonValue, ...], *, source: str
    ) -> None:
        """Publish the payload ``dict(zip(keys, values))``, for publishers whose payload keys
        are fixed by the topic (the execution records): the transport builds the mapping and
        the envelope only when it delivers or sends them."""
        ...

    def subscribe(self, pattern: str, handler: Handler) -> Subscription: ...


#: Sees every published event, before delivery: (type, time, source, payload keys, values).
Recorder = Callable[[str, int, str, tuple[str, ...], tuple[JsonValue, ...]], None]


class RecordingBus(EventBus, Protocol):
    """A bus that also hands every published event to recorders (the session's event log, the
    runtime's counters), subscribers or not."""

    def add_recorder(self, recorder: Recorder) -> None: ...
