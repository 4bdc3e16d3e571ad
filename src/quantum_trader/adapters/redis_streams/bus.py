"""The bus port over Redis Streams, for services in separate processes.

Each topic is a stream ``<prefix>:<topic>``; an event is one entry whose ``event`` field holds
the envelope's JSON. A subscriber belongs to a consumer group (one per service), so several
workers of one service share the stream's events, each delivered to one of them. Delivery
happens in :meth:`RedisStreamsBus.poll`, which the service's loop calls:

1. entries of this group left idle on any consumer for ``claim_idle_ms`` (a dead worker's, or
   this one's whose handler failed) are taken over with ``XAUTOCLAIM``, at most once per
   ``claim_idle_ms``;
2. this consumer's own pending entries from before a restart, until drained;
3. new entries.

An entry is acknowledged only after its handlers returned (acknowledgements are sent once per
batch; a crash before they are sent redelivers the batch). A handler that raises leaves its
entry pending (counted, logged) and later entries are still delivered; the entry is retried
by step 1 once idle, so ``claim_idle_ms`` is both the retry delay and a bound that handlers
must finish within (a slower handler's entry is claimed by a colleague while it runs), and a
failed event can be handled after events published after it. After
``max_deliveries`` deliveries an entry whose handler still fails, or never returned, goes to
``<prefix>:dead:<topic>`` with the error and delivery count, and is acknowledged. The
operator's tools for those streams are in ``dead_letters.py``: a replayed entry names the
group that gave up on it, and the other groups acknowledge it unread. With a
:class:`~quantum_trader.adapters.redis_streams.processed.ProcessedIds` store a redelivered
event (same ``Event.id``) is acknowledged without calling the handlers again.

A Redis restart (every key gone) is noticed from the server's state (``restart.py``): the bus
recreates its groups, counts and logs the restart with what it knows of the loss, and numbers
new events under a new epoch, so their ids are new.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis

from quantum_trader.adapters.redis_keys import key_prefix
from quantum_trader.adapters.redis_streams.processed import ProcessedIds
from quantum_trader.adapters.redis_streams.restart import DetectedBy, RedisRestart
from quantum_trader.adapters.redis_streams.scripts import StreamScripts
from quantum_trader.adapters.redis_streams.trimming import older_than, trim_stream
from quantum_trader.bus import topics
from quantum_trader.bus.envelope import Event, JsonValue
from quantum_trader.bus.port import Handler, matches
from quantum_trader.clock.clock import Clock
from quantum_trader.observability.logging import get_logger

log = get_logger(__name__)

#: an entry as redis-py returns it: (id, fields); fields are empty for a deleted entry
Entry = tuple[bytes, dict[bytes, bytes]]
#: the fields of a dead-letter entry: event, error, deliveries, entry, group, consumer
DeadLetter = dict[Any, Any]
#: how long a dead letter is kept by default: two weeks for an operator to look at it
DEAD_LETTER_MAX_AGE_MS = 14 * 24 * 3_600_000
#: the bus's own keys under the prefix: ``<prefix>:sequence``, ``<prefix>:topics``; its other
#: keys (``dead:<topic>``, ``processed:<group>:<id>``) have a colon, which no topic may have
RESERVED_TOPICS = frozenset({"sequence", "topics"})


def check_topic(topic: str) -> str:
    """``topic`` if it cannot be mistaken for one of the bus's own keys under the prefix.

    >>> check_topic("sequence")
    Traceback (most recent call last):
    ValueError: topic 'sequence' names a key of the Redis bus (not sequence, topics or a ':')
    """
    if topic in RESERVED_TOPICS or ":" in topic or not topic:
        raise ValueError(
            f"topic {topic!r} names a key of the Redis bus (not sequence, topics or a ':')"
        )
    return topic


@dataclass(slots=True)
class BusCounters:
    """What one bus object did since it was created (a service reports them as its status)."""

    delivered: int = 0  # entries whose handlers returned, acknowledged
    failed: int = 0  # handler calls that raised
    dead_lettered: int = 0  # entries moved to the dead-letter stream
    duplicates: int = 0  # redelivered events already processed: acknowledged, not handled
    claimed: int = 0  # entries taken over from another consumer (XAUTOCLAIM)
    lost: int = 0  # pending entries found deleted from their stream
    trimmed: int = 0  # entries removed by trimming
    redis_restarts: int = 0  # Redis restarts seen (every key lost): groups recreated


@dataclass(slots=True)
class _RedisSub:
    pattern: str  # a topic, ``prefix.*`` or ``*`` (``bus/port.py``)
    handler: Handler
    bus: RedisStreamsBus
    topics: set[str]  # the topics (streams) it reads: the pattern's, as found so far
    active: bool = True

    def cancel(self) -> None:
        self.active = False
        self.bus._subs.remove(self)


@dataclass(slots=True)
class _Outcome:
    """What to send for one batch once its handlers ran: acknowledgements and dead letters."""

    acks: list[bytes]
    dead: list[tuple[bytes, DeadLetter]]
    failed: list[bytes]  # left pending on this consumer (a handler raised)


class RedisStreamsBus:
    """Publish to and consume from Redis Streams with consumer groups.

    A stream per topic keeps consumer groups simple: a wildcard pattern reads each stream it
    covers (``subscribe``). ``wall`` (seconds, monotonic) paces the claiming and the wildcards'
    look for new streams; the engine ``clock`` stamps events.
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
        trim_every: int | None = None,
        claim_idle_ms: int = 30_000,
        max_deliveries: int = 5,
        dead_letter_max_age_ms: int | None = DEAD_LETTER_MAX_AGE_MS,
        processed: ProcessedIds | None = None,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if maxlen <= 0 or claim_idle_ms <= 0 or max_deliveries <= 0:
            raise ValueError(
                "maxlen, claim_idle_ms and max_deliveries must be positive, got "
                f"{maxlen}, {claim_idle_ms}, {max_deliveries}"
            )
        if dead_letter_max_age_ms is not None and dead_letter_max_age_ms <= 0:
            raise ValueError(
                f"dead_letter_max_age_ms must be positive or None, got {dead_letter_max_age_ms}"
            )
        self._redis = client
        self._scripts = StreamScripts(client)
        self._clock = clock
        self._group = group
        self._consumer = consumer
        self._run_id = run_id
        self._prefix = key_prefix(prefix)
        self._maxlen = maxlen
        self._trim_every = trim_every if trim_every is not None else max(1, maxlen // 10)
        self._claim_idle_ms = claim_idle_ms
        self._max_deliveries = max_deliveries
        self._dead_max_age_ms = dead_letter_max_age_ms
        self._processed = processed
        self._wall = wall
        self._subs: list[_RedisSub] = []
        self._since_trim: dict[str, int] = {}
        self._last_claim: float | None = None
        # Own pending entries (left by this consumer's previous life) are read until drained;
        # entries whose handler failed later are retried through claim() once idle.
        self._own_pending = True
        self._cursors: dict[str, str] = {}
        # What a Redis restart is reported with (restart.py): the server's epoch as last seen,
        # the highest sequence published or received per topic, entries left pending here.
        self._epoch: str | None = None
        self._issued = 0
        self._last_sequence: dict[str, int] = {}
        self._left_pending: dict[str, set[bytes]] = {}
        self.counters = BusCounters()
        self.last_restart: RedisRestart | None = None

    @property
    def delivered(self) -> int:
        return self.counters.delivered

    @property
    def _sequence_key(self) -> str:
        return f"{self._prefix}:sequence"

    @property
    def _topics_key(self) -> str:
        """The set of every topic published under the prefix (the publish script adds to it)."""
        return f"{self._prefix}:topics"

    def _stream(self, topic: str) -> str:
        return f"{self._prefix}:{topic}"

    def _topic(self, stream: bytes | str) -> str:
        name = stream.decode() if isinstance(stream, bytes) else stream
        return name.removeprefix(f"{self._prefix}:")

    # -- publishing -----------------------------------------------------------------------

    def publish(self, type: str, payload: Mapping[str, JsonValue], *, source: str) -> Event:
        return self.publish_many(type, [payload], source=source)[0]

    def publish_record(
        self, type: str, keys: tuple[str, ...], values: tuple[JsonValue, ...], *, source: str
    ) -> None:
        self.publish(type, dict(zip(keys, values, strict=True)), source=source)

    def publish_many(
        self, type: str, payloads: Sequence[Mapping[str, JsonValue]], *, source: str
    ) -> list[Event]:
        """Publish ``payloads`` as events of one topic in two round trips: one script for their
        sequence numbers and the server's epoch, one that appends them (``scripts.py``).

        The sequence comes from Redis, so it is unique across publishing processes within an
        epoch, and ids (``RUN:EPOCH:SEQUENCE``) are unique across Redis restarts; events of one
        batch carry consecutive numbers and the engine time of the call.
        """
        if not payloads:
            return []
        check_topic(type)
        epoch, last = self._scripts.next_sequence(self._sequence_key, len(payloads), self._issued)
        self._see_epoch(epoch, "publish")
        first = last - len(payloads) + 1
        self._issued = last
        self._last_sequence[type] = last
        now = self._clock.now()
        events = [
            Event(f"{self._run_id}:{epoch}:{seq}", type, now, source, seq, payload)
            for seq, payload in enumerate(payloads, start=first)
        ]
        documents = [event.to_json() for event in events]
        self._scripts.append(self._stream(type), documents, topic=type, topics_key=self._topics_key)
        since = self._since_trim.get(type, 0) + len(events)
        if since >= self._trim_every:
            self.trim(type)
            since = 0
        self._since_trim[type] = since
        return events

    def trim(self, topic: str) -> int:
        """Trim the topic's stream towards ``maxlen`` without removing entries a group still
        needs (see ``trimming.py``); returns how many entries were removed."""
        removed = trim_stream(self._redis, self._stream(topic), self._maxlen)
        self.counters.trimmed += removed
        return removed

    # -- consuming ------------------------------------------------------------------------

    def subscribe(self, pattern: str, handler: Handler) -> _RedisSub:
        """Read ``pattern``'s topics from now on: a topic, or ``prefix.*`` or ``*``.

        A stream per topic: a wildcard reads the streams of the topics it covers among the
        topic catalogue's (``bus/topics.py``) and those published under this bus's prefix (the
        set ``<prefix>:topics``, which every publish keeps), and looks for new ones there each
        ``claim_idle_ms`` (``discover``). A set, not a ``SCAN`` of the keyspace: with 100,000
        keys (processed-ids marks) one ``SCAN … TYPE stream`` took 240 ms here.
        """
        stem = pattern[:-2] if pattern.endswith(".*") else pattern
        if "*" in stem and pattern != "*":
            raise ValueError(f"a pattern is a topic, 'prefix.*' or '*', not {pattern!r}")
        if "*" not in pattern:
            check_topic(pattern)
        sub = _RedisSub(pattern=pattern, handler=handler, bus=self, topics=set())
        self._subs.append(sub)
        self._cover(sub, self._topics_of(pattern))
        self._own_pending = True  # this consumer may have left entries there in a past life
        return sub

    def _topics_of(self, pattern: str) -> set[str]:
        if "*" not in pattern:
            return {pattern}
        published: Any = self._redis.smembers(self._topics_key)
        names = {t.name for t in topics.ALL} | {self._name(t) for t in published}
        return {name for name in names if matches(pattern, name)}

    def _cover(self, sub: _RedisSub, found: set[str]) -> None:
        for topic in sorted(found - sub.topics):
            self._create_group(topic)
            sub.topics.add(topic)

    def discover(self) -> None:
        """Add the streams created under the prefix since each wildcard subscription looked
        (their group starts at id 0: they are read from their first entry)."""
        for sub in self._subs:
            if sub.active and "*" in sub.pattern:
                self._cover(sub, self._topics_of(sub.pattern))

    def _create_group(self, topic: str) -> None:
        try:
            self._redis.xgroup_create(self._stream(topic), self._group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _active_streams(self) -> list[str]:
        return sorted({self._stream(t) for s in self._subs if s.active for t in s.topics})

    def poll(self, *, block_ms: int | None = None, count: int = 100) -> int:
        """Deliver claimed, then own pending, then new events; returns how many were handled
        (handlers returned). A group found gone (``NOGROUP``) is recreated and the poll run
        again; a connection error (Redis down longer than redis-py's retries) propagates."""
        if not self._active_streams():
            return 0
        before = self.counters.delivered
        try:
            self._poll(block_ms, count)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            epoch, _ = self._scripts.next_sequence(self._sequence_key, 0, 0)
            if epoch != self._epoch:
                self._resync("nogroup", epoch)
            else:  # the group or stream deleted by hand, Redis still the same
                log.warning("bus_group_recreated", group=self._group, consumer=self._consumer)
                self._forget_state()
            self._poll(block_ms, count)
        return self.counters.delivered - before

    def _poll(self, block_ms: int | None, count: int) -> None:
        handled = 0
        now = self._wall()
        if self._last_claim is None or (now - self._last_claim) * 1000 >= self._claim_idle_ms:
            self.discover()
            handled += self.claim(count=count)
        if self._own_pending:
            handled += self._read_own_pending(count)
        self._read_new(count, block_ms if handled == 0 else None)

    def _see_epoch(self, epoch: str, detected_by: DetectedBy) -> None:
        if self._epoch is None:
            self._epoch = epoch
        elif epoch != self._epoch:
            self._resync(detected_by, epoch)

    def _resync(self, detected_by: DetectedBy, epoch: str) -> None:
        """Redis restarted: report what this bus knows was lost, recreate its groups."""
        restart = RedisRestart(
            detected_by=detected_by,
            epoch_before=self._epoch,
            epoch_after=epoch,
            last_sequence=dict(self._last_sequence),
            pending_before=sum(len(ids) for ids in self._left_pending.values()),
        )
        self._epoch = epoch
        self._forget_state()
        self.counters.redis_restarts += 1
        self.last_restart = restart
        log.warning(
            "bus_redis_restarted", group=self._group, consumer=self._consumer,
            undelivered_lost="unknown", **asdict(restart),
        )  # fmt: skip

    def _forget_state(self) -> None:
        """What this bus held about the streams is void: recreate its groups (at id 0: what
        the streams hold now was published since)."""
        self._left_pending.clear()
        self._cursors.clear()
        self._own_pending = False
        self._last_claim = None
        for topic in sorted({t for s in self._subs if s.active for t in s.topics}):
            self._create_group(topic)

    def claim(self, *, count: int = 100) -> int:
        """Take over this group's entries idle for ``claim_idle_ms`` on any consumer (one that
        died mid-handler) and handle them; returns how many were handled. Then delete the
        letters of its topics older than ``dead_letter_max_age_ms``."""
        self._last_claim = self._wall()
        handled = self._claim_idle(count)
        self._trim_old_letters()
        return handled

    def _trim_old_letters(self) -> None:
        """A topic that stops getting letters kept its old ones (they went only as a new one
        was written): each claim pass trims them too, exactly, by the server's clock."""
        streams = self._active_streams()
        if self._dead_max_age_ms is None or not streams:
            return
        minid = older_than(self._redis, self._dead_max_age_ms)
        pipe = self._redis.pipeline(transaction=False)
        for stream in streams:
            pipe.xtrim(f"{self._prefix}:dead:{self._topic(stream)}", minid=minid, approximate=False)
        pipe.execute()

    def _claim_idle(self, count: int) -> int:
        handled = 0
        for stream in self._active_streams():
            start = "0-0"
            while True:
                reply: Any = self._redis.xautoclaim(
                    stream, self._group, self._consumer, self._claim_idle_ms, start, count=count
                )
                next_id, entries, deleted = reply[0], reply[1], reply[2] if len(reply) > 2 else []
                if deleted:
                    self.counters.lost += len(deleted)
                    log.warning(
                        "bus_pending_entries_lost", stream=stream, group=self._group,
                        ids=[d.decode() for d in deleted],
                    )  # fmt: skip
                if entries:
                    self.counters.claimed += len(entries)
                    handled += self._handle(stream, entries, self._deliveries(stream, entries))
                if next_id in (b"0-0", "0-0"):
                    break
                start = next_id
        return handled

    def _read_own_pending(self, count: int) -> int:
        streams = self._active_streams()
        cursors: dict[Any, Any] = {s: self._cursors.get(s, "0") for s in streams}
        reply: Any = self._redis.xreadgroup(self._group, self._consumer, cursors, count=count)
        handled = 0
        drained = set(streams)
        for stream_name, entries in reply or []:
            stream = self._name(stream_name)
            if not entries:
                continue
            drained.discard(stream)
            self._cursors[stream] = entries[-1][0].decode()
            handled += self._handle(stream, entries, self._deliveries(stream, entries))
        if drained.issuperset(streams):
            self._cursors.clear()
            self._own_pending = False
        return handled

    def _read_new(self, count: int, block_ms: int | None) -> int:
        streams = self._active_streams()
        read = self._scripts.read_new
        key, group, consumer = self._sequence_key, self._group, self._consumer
        epoch, batches = read(key, streams, group, consumer, count, self._epoch or "")
        if epoch != self._epoch:  # nothing was read: groups may be gone
            self._see_epoch(epoch, "read")
            epoch, batches = read(key, streams, group, consumer, count, epoch)
        if not batches and block_ms is not None:  # a script cannot block: the plain command
            reply: Any = self._redis.xreadgroup(
                self._group, self._consumer, dict.fromkeys(streams, ">"), count=count,
                block=block_ms,
            )  # fmt: skip
            batches = [(self._name(s), entries) for s, entries in reply or []]
        return sum(self._handle(stream, entries, None) for stream, entries in batches if entries)

    @staticmethod
    def _name(stream: bytes | str) -> str:
        return stream.decode() if isinstance(stream, bytes) else stream

    def _deliveries(self, stream: str, entries: Sequence[Entry]) -> dict[bytes, int]:
        """How many times each of ``entries`` (now pending on this consumer) was delivered.

        Claimed entries can interleave with this consumer's other pending ones: pages through
        its pending list over the entries' id range until all are found.
        """
        wanted = {entry_id for entry_id, _ in entries}
        found: dict[bytes, int] = {}
        start: bytes = entries[0][0]
        while wanted - found.keys():
            rows: Any = self._redis.xpending_range(
                stream, self._group, start, entries[-1][0], 1000, consumername=self._consumer
            )
            found.update((r["message_id"], int(r["times_delivered"])) for r in rows)
            if len(rows) < 1000:
                break
            start = b"(" + rows[-1]["message_id"]
        return found

    def _handle(
        self, stream: str, entries: Sequence[Entry], deliveries: Mapping[bytes, int] | None
    ) -> int:
        """Run the topic's handlers on each entry; acknowledge or dead-letter in one pipeline.

        ``deliveries`` is None for entries read for the first time (delivered once).
        """
        topic = self._topic(stream)
        handlers = [s.handler for s in self._subs if s.active and topic in s.topics]
        outcome = _Outcome(acks=[], dead=[], failed=[])
        events: list[tuple[bytes, bytes, Event]] = []  # (entry id, raw JSON, event)
        for entry_id, fields in entries:
            times = deliveries.get(entry_id, 1) if deliveries is not None else 1
            if not fields:  # deleted from the stream while pending: nothing left to handle
                self.counters.lost += 1
                outcome.acks.append(entry_id)
                continue
            target = fields.get(b"for_group")
            if target is not None and target.decode() != self._group:  # another's replay
                outcome.acks.append(entry_id)
                continue
            raw = fields.get(b"event", b"")
            try:
                events.append((entry_id, raw, Event.from_json(raw.decode())))
            except (ValueError, KeyError, TypeError) as exc:  # no handler could ever take it
                outcome.dead.append((entry_id, self._dead_fields(raw, exc, times, entry_id)))
        handled = 0
        try:
            done = self._already_processed([e for _, _, e in events])
            for entry_id, raw, event in events:
                times = deliveries.get(entry_id, 1) if deliveries is not None else 1
                if event.id in done:
                    self.counters.duplicates += 1
                    outcome.acks.append(entry_id)
                elif times > self._max_deliveries:  # its handler never returned, K times
                    error = RuntimeError(f"handler did not return in {times - 1} deliveries")
                    outcome.dead.append((entry_id, self._dead_fields(raw, error, times, entry_id)))
                elif self._run_handlers(handlers, event, raw, entry_id, times, outcome):
                    handled += 1
        finally:  # also when a handler raised a BaseException: what was handled is acked
            self._settle(stream, outcome)
            self.counters.delivered += handled
        if events:
            highest = max(event.sequence for _, _, event in events)
            self._last_sequence[topic] = max(highest, self._last_sequence.get(topic, 0))
        return handled

    def _already_processed(self, events: Sequence[Event]) -> set[str]:
        if self._processed is None or not events:
            return set()
        return self._processed.processed(self._group, [e.id for e in events])

    def _run_handlers(
        self, handlers: Sequence[Handler], event: Event, raw: bytes, entry_id: bytes,
        times: int, outcome: _Outcome,
    ) -> bool:  # fmt: skip
        try:
            for handler in handlers:
                handler(event)
        except Exception as exc:  # a failed handler must not stop the consumer's loop
            self.counters.failed += 1
            log.warning(
                "bus_handler_failed", topic=event.type, event_id=event.id, group=self._group,
                deliveries=times, error=f"{type(exc).__name__}: {exc}",
            )  # fmt: skip
            if times >= self._max_deliveries:
                outcome.dead.append((entry_id, self._dead_fields(raw, exc, times, entry_id)))
            else:
                outcome.failed.append(entry_id)
            return False  # left pending: claim() retries it once idle for claim_idle_ms
        if self._processed is not None:
            self._processed.mark(self._group, event.id)
        outcome.acks.append(entry_id)
        return True

    def _dead_fields(
        self, raw: bytes, error: BaseException, times: int, entry_id: bytes
    ) -> DeadLetter:
        return {
            "event": raw,
            "error": f"{type(error).__name__}: {error}",
            "deliveries": times,
            "entry": entry_id.decode(),
            "group": self._group,
            "consumer": self._consumer,
        }

    def _settle(self, stream: str, outcome: _Outcome) -> None:
        """Dead letters and acknowledgements of one batch, in one transaction."""
        if outcome.failed or self._left_pending.get(stream):  # reported if Redis restarts
            pending = self._left_pending.setdefault(stream, set())
            pending.difference_update(outcome.acks, (entry_id for entry_id, _ in outcome.dead))
            pending.update(outcome.failed)
        if not outcome.acks and not outcome.dead:
            return
        # letters older than the bound go as a new one is written (by the server's clock, as
        # the letters' ids; exactly: a letter stream is small and written rarely)
        minid = None
        if outcome.dead and self._dead_max_age_ms is not None:
            minid = older_than(self._redis, self._dead_max_age_ms)
        pipe = self._redis.pipeline(transaction=True)
        dead_stream = f"{self._prefix}:dead:{self._topic(stream)}"
        for _, fields in outcome.dead:
            pipe.xadd(dead_stream, fields, minid=minid, approximate=False)
        ids = outcome.acks + [entry_id for entry_id, _ in outcome.dead]
        pipe.xack(stream, self._group, *ids)
        pipe.execute()
        for entry_id, fields in outcome.dead:
            log.error(
                "bus_event_dead_lettered", stream=stream, entry=entry_id.decode(),
                group=self._group, deliveries=fields["deliveries"], error=fields["error"],
            )  # fmt: skip
        self.counters.dead_lettered += len(outcome.dead)
