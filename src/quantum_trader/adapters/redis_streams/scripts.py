"""Server-side scripts for the bus's hot paths.

redis-py encodes each command argument and parses each reply in Python: a pipeline of 1,000
``XADD`` costs 5,000 argument encodings and 1,000 replies, which capped publishing at about
28,000 events/s on this machine (load 5). One script call per batch carries one argument per
event and one reply, and appends the batch atomically. Reading is the mirror image: redis-py
parses each element of a reply in Python (about 1.3 ms of the consumer's CPU per 1,000 entries
as one element per id and one per event), so the read script packs each stream's entries into
three strings (the ids, the events' sizes, the events end to end), split here in about 0.3 ms.
Figures: ``docs/services.md``.

Both the numbering and the read also look at the bus's *epoch*, a random token kept beside
the sequence (``restart.py``): Redis keeps nothing on disk here, so after a restart the token
is missing, the first script to run draws a new one, and every bus sees it change in a call it
makes anyway.
"""

from __future__ import annotations

import secrets
from typing import Any

import redis
from redis.commands.core import Script

#: KEYS[1] the stream, KEYS[2] the set of topics published; ARGV the topic, then the events'
#: JSON, in order. Appends all of them (one entry each) and keeps the topic in the set (where
#: wildcard subscribers find it, ``bus.py``).
_PUBLISH = """
redis.call('SADD', KEYS[2], ARGV[1])
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], '*', 'event', ARGV[i])
end
return #ARGV - 1
"""

#: KEYS[1] the sequence hash; ARGV count, a new epoch (kept when the hash has none), the
#: caller's floor. Returns the epoch and the last of ``count`` numbers, all above the floor
#: (the highest the caller issued before: after a restart its numbers keep rising) and above
#: every number of this epoch.
_NEXT_SEQUENCE = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[2]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local skip = math.max(0, tonumber(ARGV[3]) - last)
return {epoch, redis.call('HINCRBY', KEYS[1], 'last', skip + tonumber(ARGV[1]))}
"""

#: KEYS[1] the sequence hash, KEYS[2..] the streams; ARGV group, consumer, count, the epoch
#: the caller knows, a new epoch. Returns [epoch] alone when the epoch is not the caller's (a
#: restart: its groups may be gone); else [epoch, then per stream with new entries (">",
#: never blocking) four strings: the stream, its entries' ids joined by spaces, the byte sizes
#: of their events joined by spaces, the events end to end]; an entry without an ``event``
#: field gives '' (the bus dead-letters it as undecodable). An entry replayed for another
#: group (a ``for_group`` field not ARGV[1], ``dead_letters.py``) is acknowledged here and
#: not returned.
_READ_NEW = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch ~= ARGV[4] then
  if not epoch then
    epoch = ARGV[5]
    redis.call('HSET', KEYS[1], 'epoch', epoch)
  end
  return {epoch}
end
local out = {epoch}
for i = 2, #KEYS do
  local key = KEYS[i]
  local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
                           'STREAMS', key, '>')
  local ids, sizes, events, n = {}, {}, {}, 0
  for _, entry in ipairs(reply and reply[1][2] or {}) do
    local raw, target = '', false
    local fields = entry[2]
    for j = 1, #fields, 2 do
      if fields[j] == 'event' then raw = fields[j + 1]
      elseif fields[j] == 'for_group' then target = fields[j + 1] end
    end
    if target and target ~= ARGV[1] then
      redis.call('XACK', key, ARGV[1], entry[1])
    else
      n = n + 1
      ids[n], sizes[n], events[n] = entry[1], #raw, raw
    end
  end
  if n > 0 then
    out[#out + 1] = key
    out[#out + 1] = table.concat(ids, ' ')
    out[#out + 1] = table.concat(sizes, ' ')
    out[#out + 1] = table.concat(events)
  end
end
return out
"""

#: the most events one publish script carries (the server runs nothing else meanwhile)
PUBLISH_CHUNK = 2000

Entries = list[tuple[bytes, dict[bytes, bytes]]]


class StreamScripts:
    """The scripts, registered on one client (redis-py reloads them after a Redis restart)."""

    def __init__(self, client: redis.Redis) -> None:
        self._publish: Script = client.register_script(_PUBLISH)
        self._next_sequence: Script = client.register_script(_NEXT_SEQUENCE)
        self._read_new: Script = client.register_script(_READ_NEW)

    def append(self, stream: str, documents: list[str], *, topic: str, topics_key: str) -> None:
        """Append ``documents`` to ``stream``; ``topic`` joins the set at ``topics_key``."""
        for start in range(0, len(documents), PUBLISH_CHUNK):
            chunk = documents[start : start + PUBLISH_CHUNK]
            self._publish(keys=[stream, topics_key], args=[topic, *chunk])

    def next_sequence(self, key: str, count: int, floor: int) -> tuple[str, int]:
        """The epoch and the last of ``count`` new numbers (``count=0``: the epoch alone)."""
        reply: Any = self._next_sequence(keys=[key], args=[count, new_epoch(), floor])
        return _text(reply[0]), int(reply[1])

    def read_new(
        self, key: str, streams: list[str], group: str, consumer: str, count: int, epoch: str
    ) -> tuple[str, list[tuple[str, Entries]]]:
        """The epoch, and the new entries unless it is not ``epoch`` (then nothing is read)."""
        flat: Any = self._read_new(
            keys=[key, *streams], args=[group, consumer, count, epoch, new_epoch()]
        )
        out = [(_text(flat[at]), unpack(*flat[at + 1 : at + 4])) for at in range(1, len(flat), 4)]
        return _text(flat[0]), out


def unpack(ids: bytes, sizes: bytes, events: bytes) -> Entries:
    """One stream's entries from the read script's three strings.

    >>> unpack(b"1-0 1-1 2-0", b"2 0 3", b"{}abc")
    [(b'1-0', {b'event': b'{}'}), (b'1-1', {b'event': b''}), (b'2-0', {b'event': b'abc'})]
    """
    entries: Entries = []
    if not ids:  # never sent (XREADGROUP omits empty streams), but b"" would split to [b""]
        return entries
    end = 0
    for entry_id, size in zip(ids.split(b" "), map(int, sizes.split(b" ")), strict=True):
        start, end = end, end + size
        entries.append((entry_id, {b"event": events[start:end]}))
    if end != len(events):
        raise ValueError(f"read script: events of {len(events)} bytes, sizes summing to {end}")
    return entries


def new_epoch() -> str:
    """A token for a new life of the Redis server (48 random bits, drawn per call: a bus that
    sees two restarts must not bring back an epoch it used)."""
    return secrets.token_hex(6)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
