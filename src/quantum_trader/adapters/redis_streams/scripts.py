"""Server-side scripts for the bus's hot paths.

redis-py encodes each command argument and parses each reply in Python: a pipeline of 1,000
``XADD`` costs 5,000 argument encodings and 1,000 replies, which capped publishing at about
28,000 events/s on this machine (load 5). One script call per batch carries one argument per
event and one reply, and appends the batch atomically; reading through a script returns one
flat array instead of nested entries. Figures: ``docs/services.md``.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.commands.core import Script

#: KEYS[1] the stream; ARGV the events' JSON, in order. Appends all of them (one entry each).
_PUBLISH = """
for i = 1, #ARGV do
  redis.call('XADD', KEYS[1], '*', 'event', ARGV[i])
end
return #ARGV
"""

#: KEYS the streams; ARGV group, consumer, count. New entries (">"), never blocking, as
#: [stream, n, id, event, id, event, ...] per stream with entries; an entry without an
#: ``event`` field gives '' (the bus dead-letters it as undecodable).
_READ_NEW = """
local out = {}
for _, key in ipairs(KEYS) do
  local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
                           'STREAMS', key, '>')
  if reply then
    local entries = reply[1][2]
    out[#out + 1] = key
    out[#out + 1] = #entries
    for _, entry in ipairs(entries) do
      local raw = ''
      local fields = entry[2]
      for j = 1, #fields, 2 do
        if fields[j] == 'event' then raw = fields[j + 1] end
      end
      out[#out + 1] = entry[1]
      out[#out + 1] = raw
    end
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
        self._read_new: Script = client.register_script(_READ_NEW)

    def append(self, stream: str, documents: list[str]) -> None:
        for start in range(0, len(documents), PUBLISH_CHUNK):
            self._publish(keys=[stream], args=documents[start : start + PUBLISH_CHUNK])

    def read_new(
        self, streams: list[str], group: str, consumer: str, count: int
    ) -> list[tuple[str, Entries]]:
        flat: Any = self._read_new(keys=streams, args=[group, consumer, count])
        out: list[tuple[str, Entries]] = []
        at = 0
        while at < len(flat):
            name, n = flat[at], int(flat[at + 1])
            pairs = flat[at + 2 : at + 2 + 2 * n]
            stream = name.decode() if isinstance(name, bytes) else str(name)
            entries = [(i, {b"event": raw}) for i, raw in zip(pairs[::2], pairs[1::2], strict=True)]
            out.append((stream, entries))
            at += 2 + 2 * n
        return out
