"""The bus port over Redis Streams, for services in separate processes.

Each topic is a stream ``<prefix>:<topic>``; an event is one entry whose ``event`` field holds the
envelope's JSON. A subscriber process belongs to a consumer group (one per service), so several
workers of one service share the stream's events, each event delivered to one of them, and
acknowledged only after its handler returned — an event whose handler failed stays pending and is
re-read after a restart. Delivery happens in ``poll``, which the service's loop calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from quantum_trader.bus.envelope import Event, JsonValue
from quantum_trader.bus.port import Handler
from quantum_trader.clock.clock import Clock


@dataclass(slots=True)
class _RedisSub:
    topic: str
    handler: Handler
    bus: RedisStreamsBus
    active: bool = True

    def cancel(self) -> None:
        self.active = False
        self.bus._subs.remove(self)


class RedisStreamsBus:
    """Publish to and consume from Redis Streams with consumer groups.

    Patterns must be exact topics here: a stream per topic keeps consumer groups simple.
    """

    def __init__(
        self,
        client: redis.Redis,
        clock: Clock,
        *,
        group: str,
        consumer: str,
        run_id: str = "run",
        prefix: str = "qt",
        maxlen: int = 100_000,
    ) -> None:
        self._redis = client
        self._clock = clock
        self._group = group
        self._consumer = consumer
        self._run_id = run_id
        self._prefix = prefix
        self._maxlen = maxlen
        self._subs: list[_RedisSub] = []
        self.delivered = 0

    def _stream(self, topic: str) -> str:
        return f"{self._prefix}:{topic}"

    def publish(self, type: str, payload: Mapping[str, JsonValue], *, source: str) -> Event:
        # The sequence comes from Redis (INCR), so it is global across publishing processes.
        counter: Any = self._redis.incr(f"{self._prefix}:sequence")  # sync client: an int
        sequence = int(counter)
        event = Event(
            id=f"{self._run_id}:{sequence}",
            type=type,
            time=self._clock.now(),
            source=source,
            sequence=sequence,
            payload=payload,
        )
        self._redis.xadd(
            self._stream(type), {"event": event.to_json()}, maxlen=self._maxlen, approximate=True
        )
        return event

    def publish_record(
        self, type: str, keys: tuple[str, ...], values: tuple[JsonValue, ...], *, source: str
    ) -> None:
        self.publish(type, dict(zip(keys, values, strict=True)), source=source)

    def subscribe(self, pattern: str, handler: Handler) -> _RedisSub:
        if "*" in pattern:
            raise ValueError(f"RedisStreamsBus subscribes to exact topics, not {pattern!r}")
        try:
            self._redis.xgroup_create(self._stream(pattern), self._group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        sub = _RedisSub(topic=pattern, handler=handler, bus=self)
        self._subs.append(sub)
        return sub

    def poll(self, *, block_ms: int | None = None, count: int = 100) -> int:
        """Deliver pending then new events to handlers; returns how many were handled.

        Entries this consumer read before but never acknowledged (a crash mid-handler) come first.
        """
        handled = self._read("0", count=count, block_ms=None)
        handled += self._read(">", count=count, block_ms=block_ms)
        return handled

    def _read(self, start: str, *, count: int, block_ms: int | None) -> int:
        subs = [s for s in self._subs if s.active]
        if not subs:
            return 0
        streams: dict[Any, Any] = {self._stream(s.topic): start for s in subs}
        reply: Any = self._redis.xreadgroup(
            self._group, self._consumer, streams, count=count, block=block_ms
        )
        handled = 0
        for stream_name, entries in reply or []:
            name = stream_name.decode() if isinstance(stream_name, bytes) else stream_name
            topic = name.removeprefix(f"{self._prefix}:")
            for entry_id, fields in entries:
                raw = fields.get(b"event", fields.get("event"))
                if raw is None:
                    continue
                event = Event.from_json(raw.decode() if isinstance(raw, bytes) else raw)
                for sub in subs:
                    if sub.topic == topic:
                        sub.handler(event)
                self._redis.xack(name, self._group, entry_id)
                handled += 1
        self.delivered += handled
        return handled
