"""In-process, synchronous event bus with deterministic delivery.

Handlers run in subscription order, inside ``publish``. An event published by a handler is
queued and delivered after the current event has reached every subscriber (breadth-first), so
every subscriber sees events in the same global order. A failing handler does not stop the others:
its error is recorded and re-raised once delivery finishes, so nothing fails silently.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from quantum_trader.bus.envelope import Event, JsonValue, build_event
from quantum_trader.bus.port import Handler, Recorder, matches
from quantum_trader.clock.clock import Clock


class HandlerError(Exception):
    """One or more subscribers raised while handling an event."""

    def __init__(self, failures: list[tuple[str, Event, BaseException]]) -> None:
        self.failures = failures
        detail = "; ".join(
            f"{name} on {ev.type}#{ev.sequence}: {exc!r}" for name, ev, exc in failures
        )
        super().__init__(f"{len(failures)} event handler(s) failed: {detail}")


@dataclass(slots=True)
class _Sub:
    pattern: str
    handler: Handler
    bus: InProcessBus
    active: bool = True

    def cancel(self) -> None:
        self.active = False
        self.bus._remove(self)


class InProcessBus:
    """The default bus: one process, one thread, deterministic order."""

    def __init__(self, clock: Clock, run_id: str = "run") -> None:
        self._clock = clock
        self._run_id = run_id
        self._subs: list[_Sub] = []
        self._queue: deque[Event] = deque()
        self._delivering = False
        self._sequence = 0
        self.published: dict[str, int] = {}
        #: called for every event, subscribers or not (the replay's event log, counters)
        self.recorders: list[Recorder] = []

    def add_recorder(self, recorder: Recorder) -> None:
        self.recorders.append(recorder)

    @property
    def sequence(self) -> int:
        return self._sequence

    def publish(self, type: str, payload: Mapping[str, JsonValue], *, source: str) -> Event:
        self._sequence = sequence = self._sequence + 1
        time = self._clock.now()
        event = build_event(f"{self._run_id}:{sequence}", type, time, source, sequence, payload)
        published = self.published
        published[type] = published.get(type, 0) + 1
        if self.recorders:
            keys, values = tuple(payload), tuple(payload.values())
            for record in self.recorders:
                record(type, time, source, keys, values)
        if self._subs or self._delivering or self._queue:
            self._queue.append(event)
            if not self._delivering:
                self._drain()
        return event

    def publish_record(
        self, type: str, keys: tuple[str, ...], values: tuple[JsonValue, ...], *, source: str
    ) -> None:
        """:meth:`publish` of ``dict(zip(keys, values))``; with no subscriber and nothing
        queued, neither the mapping nor the envelope is built (a replay publishes thousands of
        events that only the recorders see)."""
        self._sequence = sequence = self._sequence + 1
        time = self._clock.now()
        published = self.published
        published[type] = published.get(type, 0) + 1
        for record in self.recorders:
            record(type, time, source, keys, values)
        if self._subs or self._delivering or self._queue:
            payload = dict(zip(keys, values, strict=True))
            self._queue.append(
                build_event(f"{self._run_id}:{sequence}", type, time, source, sequence, payload)
            )
            if not self._delivering:
                self._drain()

    def subscribe(self, pattern: str, handler: Handler) -> _Sub:
        sub = _Sub(pattern=pattern, handler=handler, bus=self)
        self._subs.append(sub)
        return sub

    def _remove(self, sub: _Sub) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def _drain(self) -> None:
        self._delivering = True
        failures: list[tuple[str, Event, BaseException]] = []
        try:
            while self._queue:
                event = self._queue.popleft()
                for sub in list(self._subs):
                    if sub.active and matches(sub.pattern, event.type):
                        try:
                            sub.handler(event)
                        except Exception as exc:
                            name = getattr(sub.handler, "__qualname__", repr(sub.handler))
                            failures.append((name, event, exc))
        finally:
            self._delivering = False
        if failures:
            raise HandlerError(failures)
