"""Bounded streams that never lose an entry a consumer group still needs.

``XADD … MAXLEN ~ n`` drops the oldest entries whatever their state, including entries still
pending in a slow group (read, not yet acknowledged) or not yet delivered to it. Here a stream
is trimmed with ``XTRIM MINID ~ floor LIMIT excess``: never at or past the *floor* (the lowest
id some group still needs: its oldest pending entry, or the first entry after its
last-delivered id), and by at most the excess over ``maxlen``. A stream behind a slow group so
grows past ``maxlen`` rather than losing its entries; ``~`` trims whole radix-tree nodes (100
entries by default), so "about" ``maxlen``.

One race is left: a group created at id ``0`` between the floor's reading and the trim may
find older entries gone. The bus creates its groups at subscribe, which a service does at start.
"""

from __future__ import annotations

from typing import Any

import redis

StreamId = tuple[int, int]


def parse_id(raw: bytes | str) -> StreamId:
    """``b"1700000000000-3"`` → ``(1700000000000, 3)``.

    >>> parse_id(b"17-3")
    (17, 3)
    """
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_id(stream_id: StreamId) -> str:
    return f"{stream_id[0]}-{stream_id[1]}"


def safe_floor(client: redis.Redis, stream: str) -> StreamId | None:
    """The lowest entry id some consumer group of ``stream`` still needs; ``None`` without
    groups (then nothing is protected)."""
    groups: Any = client.xinfo_groups(stream)
    floor: StreamId | None = None
    for group in groups:
        ms, seq = parse_id(group["last-delivered-id"])
        need = (ms, seq + 1)  # the first entry not yet delivered to this group
        if int(group["pending"]) > 0:
            summary: Any = client.xpending(stream, group["name"])
            if summary["min"] is not None:
                need = min(need, parse_id(summary["min"]))
        floor = need if floor is None else min(floor, need)
    return floor


def trim_stream(client: redis.Redis, stream: str, maxlen: int) -> int:
    """Trim ``stream`` towards ``maxlen`` entries without removing any entry at or after
    :func:`safe_floor`; returns how many entries were removed."""
    length: Any = client.xlen(stream)
    excess = int(length) - maxlen
    if excess <= 0:
        return 0
    floor = safe_floor(client, stream)
    removed: Any
    if floor is None:
        removed = client.xtrim(stream, maxlen=maxlen, approximate=True)
    else:
        removed = client.xtrim(stream, minid=format_id(floor), approximate=True, limit=excess)
    return int(removed)


def older_than(client: redis.Redis, age_ms: int) -> str:
    """The ``MINID`` below which entries (ids ``MS-SEQ`` from the server's clock, ``XADD *``)
    were written more than ``age_ms`` ago by the Redis server's clock."""
    now: Any = client.time()
    return format_id((max(int(now[0]) * 1000 + int(now[1]) // 1000 - age_ms, 0), 0))
