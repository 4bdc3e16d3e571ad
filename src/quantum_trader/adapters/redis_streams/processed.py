"""Which events a consumer group has already handled: what makes a redelivery a no-op.

Redis Streams deliver at least once: an entry whose handler ran but whose acknowledgement was
lost (a crash between the two, a consumer whose entries were claimed while it was still
working) is delivered again. The bus asks a :class:`ProcessedIds` store before it calls the
handlers and marks the event after they returned, so the second delivery has no second effect.

Where exactly-once stops (``RedisProcessedIds``): the mark is a separate write after the
handler's effect. A crash after the effect and before the mark re-runs the handler on
redelivery, and a redelivery later than ``retention_ms`` after the mark is not recognised.
``SqlProcessedIds`` (``sql_processed.py``), whose mark is written in the handler's own database
transaction, closes the first gap for handlers whose effect is a database write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import redis

from quantum_trader.adapters.redis_keys import key_prefix


class ProcessedIds(Protocol):
    """Event ids handled per consumer group."""

    def processed(self, group: str, event_ids: Sequence[str]) -> set[str]:
        """The ids among ``event_ids`` that ``group`` has already handled."""
        ...

    def mark(self, group: str, event_id: str) -> None:
        """Record that ``group`` handled ``event_id`` (called after its handlers returned)."""
        ...


class RedisProcessedIds:
    """One key per group and event id, ``<prefix>:processed:<group>:<event id>``, expiring
    ``retention_ms`` after the mark, so memory is bounded by the rate times the retention.

    The retention must outlast the longest time an entry can stay pending before it is
    redelivered (the bus's ``claim_idle_ms`` times its ``max_deliveries``, plus downtime).

    >>> RedisProcessedIds(redis.Redis(), prefix="qt", retention_ms=0)
    Traceback (most recent call last):
    ...
    ValueError: retention_ms must be positive, got 0
    """

    def __init__(
        self, client: redis.Redis, *, prefix: str = "qt", retention_ms: int = 3_600_000
    ) -> None:
        if retention_ms <= 0:
            raise ValueError(f"retention_ms must be positive, got {retention_ms}")
        self._redis = client
        self._prefix = key_prefix(prefix)
        self._retention_ms = retention_ms

    def _key(self, group: str, event_id: str) -> str:
        return f"{self._prefix}:processed:{group}:{event_id}"

    def processed(self, group: str, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        found: Any = self._redis.mget([self._key(group, i) for i in event_ids])
        return {i for i, value in zip(event_ids, found, strict=True) if value is not None}

    def mark(self, group: str, event_id: str) -> None:
        self._redis.set(self._key(group, event_id), b"1", px=self._retention_ms)


class MemoryProcessedIds:
    """The store in a set, for tests and single-process use (unbounded, lost at exit).

    >>> ids = MemoryProcessedIds()
    >>> ids.mark("risk", "run:1")
    >>> sorted(ids.processed("risk", ["run:1", "run:2"]))
    ['run:1']
    """

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()

    def processed(self, group: str, event_ids: Sequence[str]) -> set[str]:
        return {i for i in event_ids if (group, i) in self._seen}

    def mark(self, group: str, event_id: str) -> None:
        self._seen.add((group, event_id))
