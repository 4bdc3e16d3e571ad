"""The operator's tools for the bus's dead-letter streams: list, read, replay, drop, trim.

The bus (``bus.py``) moves an entry whose handler failed ``max_deliveries`` times, or never
returned, to ``<prefix>:dead:<topic>`` with the event, the error, the delivery count, the
source entry, and the group and consumer that gave up on it. Nothing else reads that stream,
and nothing trims it; this module is what an operator uses once the cause is fixed (or found
to be the event's own fault).

**Replay goes to the group that gave up, and only to it.** The event is appended to its
topic's stream again, with a ``for_group`` field naming that group; every other group of the
stream acknowledges such an entry without handling it (the read script does so on the
server, ``scripts.py``; the bus's other reads in ``bus.py``), since they handled the event
when it was first published. The replayed entry is a new entry, so it gets ``max_deliveries``
deliveries again; the event keeps its id, so a group with a processed-ids store still
recognises it if it did take effect after all. Taking the dead letter out and appending the
replay happen in one server-side script: two operators replaying at once replay it once.

A dead letter whose ``event`` is not an envelope is not replayed (the bus would dead-letter
it again at once); it can only be dropped. A dead letter whose group no longer exists on its
topic's stream is not replayed either (no consumer would read it): the report names both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.commands.core import Script

from quantum_trader.adapters.redis_keys import key_prefix
from quantum_trader.adapters.redis_streams.trimming import older_than
from quantum_trader.bus.envelope import Event

#: KEYS[1] the dead-letter stream, KEYS[2] the topic's stream; ARGV the dead entry's id, the
#: event, the group. Appends the event for that group only if the dead entry was still there
#: (taken out in the same step); returns the new entry's id, or false.
_REPLAY = """
if redis.call('XDEL', KEYS[1], ARGV[1]) == 1 then
  return redis.call('XADD', KEYS[2], '*', 'event', ARGV[2], 'for_group', ARGV[3])
end
return false
"""


@dataclass(frozen=True, slots=True)
class DeadStream:
    """One topic's dead-letter stream: how many letters, the oldest and newest (ms)."""

    topic: str
    length: int
    oldest_ms: int | None
    newest_ms: int | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter as the bus wrote it. ``event`` is None when the entry's ``event`` field
    is not an envelope (``raw`` is what it held)."""

    id: str  # the letter's id in the dead-letter stream; its time is when it was written
    topic: str
    raw: bytes
    event: Event | None
    error: str
    deliveries: int
    entry: str  # the id the event had on its topic's stream
    group: str
    consumer: str

    @property
    def dead_at_ms(self) -> int:
        return int(self.id.split("-", 1)[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "topic": self.topic, "dead_at_ms": self.dead_at_ms,
            "event_id": None if self.event is None else self.event.id,
            "event_type": None if self.event is None else self.event.type,
            # the envelope as sent (payload included), or the text that is not one
            "envelope": None if self.event is None else json.loads(self.raw),
            "raw": self.raw.decode(errors="replace") if self.event is None else None,
            "error": self.error, "deliveries": self.deliveries, "entry": self.entry,
            "group": self.group, "consumer": self.consumer,
        }  # fmt: skip


@dataclass(slots=True)
class ReplayReport:
    """What a replay did: ``replayed`` maps a letter's id to its new entry's id on the topic's
    stream; ``refused`` maps a letter's id to why it stayed; ``gone`` lists letters that were
    no longer there (dropped, trimmed or replayed by someone else meanwhile)."""

    replayed: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)


class DeadLetters:
    """The dead-letter streams under one key ``prefix`` (the bus's, ``qt`` by default)."""

    def __init__(self, client: redis.Redis, prefix: str = "qt") -> None:
        self._redis = client
        self._prefix = key_prefix(prefix)
        self._replay: Script = client.register_script(_REPLAY)

    def _dead(self, topic: str) -> str:
        return f"{self._prefix}:dead:{topic}"

    def streams(self) -> list[DeadStream]:
        """Every topic with a dead-letter stream, by topic."""
        head = f"{self._prefix}:dead:"
        out = []
        for key in sorted(self._redis.scan_iter(match=f"{head}*", _type="stream")):
            name = _text(key)
            info: Any = self._redis.xinfo_stream(name)  # length, first and last in one reply
            first, last = info.get("first-entry"), info.get("last-entry")
            out.append(
                DeadStream(
                    topic=name.removeprefix(head),
                    length=int(info["length"]),
                    oldest_ms=_ms(first[0]) if first else None,
                    newest_ms=_ms(last[0]) if last else None,
                )
            )
        return out

    def letters(
        self, topic: str, *, count: int | None = 100, ids: Sequence[str] = ()
    ) -> list[DeadLetter]:
        """The topic's dead letters, oldest first: the first ``count`` (None: all), or the
        ones with ``ids`` (those not there are left out)."""
        stream = self._dead(topic)
        if ids:
            pipe = self._redis.pipeline(transaction=False)  # one round trip for all ids
            for letter_id in ids:
                pipe.xrange(stream, letter_id, letter_id)
            rows: list[Any] = [row for found in pipe.execute() for row in found]
        else:
            first: Any = self._redis.xrange(stream, count=count)
            rows = list(first)
        return [_letter(topic, entry_id, fields) for entry_id, fields in rows]

    def replay(
        self, topic: str, *, ids: Sequence[str] = (), group: str | None = None
    ) -> ReplayReport:
        """Put dead letters back on their topic's stream for the group that gave up on each.

        ``ids`` picks letters (default: all of the topic's); ``group`` keeps only that group's.
        """
        report = ReplayReport()
        letters = self.letters(topic, count=None, ids=ids)
        found = {letter.id for letter in letters}
        report.gone.extend(i for i in ids if i not in found)
        groups = self._groups(topic)
        for letter in letters:
            if group is not None and letter.group != group:
                if ids:  # asked for by id: say why it stays
                    report.refused[letter.id] = f"its group is {letter.group!r}, not {group!r}"
                continue
            if letter.event is None:
                report.refused[letter.id] = "its event is not an envelope: drop it instead"
            elif letter.group not in groups:
                report.refused[letter.id] = (
                    f"group {letter.group!r} does not exist on {self._prefix}:{topic}: "
                    "nobody would read it"
                )
            else:
                new_id = self._replay(
                    keys=[self._dead(topic), f"{self._prefix}:{topic}"],
                    args=[letter.id, letter.raw, letter.group],
                )
                if new_id is None:
                    report.gone.append(letter.id)
                else:
                    report.replayed[letter.id] = _text(new_id)
        return report

    def drop(self, topic: str, ids: Sequence[str]) -> int:
        """Delete the letters with ``ids``; returns how many were there."""
        deleted: Any = self._redis.xdel(self._dead(topic), *ids) if ids else 0
        return int(deleted)

    def trim(self, topic: str, *, older_than_ms: int) -> int:
        """Delete the topic's letters written more than ``older_than_ms`` ago by the Redis
        server's clock (exactly, not in whole nodes); returns how many were deleted."""
        if older_than_ms < 0:
            raise ValueError(f"older_than_ms must be ≥ 0, got {older_than_ms}")
        removed: Any = self._redis.xtrim(
            self._dead(topic), minid=older_than(self._redis, older_than_ms), approximate=False
        )
        return int(removed)

    def _groups(self, topic: str) -> set[str]:
        try:
            rows: Any = self._redis.xinfo_groups(f"{self._prefix}:{topic}")
        except redis.ResponseError:  # no such stream
            return set()
        return {_text(row["name"]) for row in rows}


def _letter(topic: str, entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
    raw = fields.get(b"event", b"")
    try:
        event: Event | None = Event.from_json(raw.decode())
    except (ValueError, KeyError, TypeError):
        event = None
    return DeadLetter(
        id=_text(entry_id),
        topic=topic,
        raw=raw,
        event=event,
        error=_text(fields.get(b"error", b"")),
        deliveries=int(fields.get(b"deliveries", b"0")),
        entry=_text(fields.get(b"entry", b"")),
        group=_text(fields.get(b"group", b"")),
        consumer=_text(fields.get(b"consumer", b"")),
    )


def _ms(entry_id: bytes | str) -> int:
    return int(_text(entry_id).split("-", 1)[0])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
