"""Redis restarted (it keeps nothing on disk here): what the bus knows about the loss.

A restart takes every key: the streams with the entries not yet handled, the consumer groups
with their pending lists, the sequence. The bus notices it from the server's state, in calls
it makes anyway (no round trip per event): the *epoch*, a random token kept beside the
sequence (``<prefix>:sequence``, field ``epoch``), is missing after a restart and the first
bus to number or read draws a new one, which every other bus then sees differ from its own
(``scripts.py``); a consumer whose group vanished also gets ``NOGROUP``. Event ids carry the
epoch (``RUN:EPOCH:SEQUENCE``), so no event after a restart reuses an id marked handled
before it in a store that survived (``SqlProcessedIds``).

What is gone cannot be counted by a bus: entries on the streams that no group had handled
were in Redis alone. A :class:`RedisRestart` says what this bus knows: the highest sequence it
published or received per topic before the restart (events of a topic numbered above a group's
last handled one and below the first it handles after were handled by a colleague, belong to
another topic — one sequence numbers all topics — or are lost), and the entries it had left
pending on itself (failed handlers, not yet retried), which are lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: where the restart was seen: numbering events, reading new entries, a group gone (NOGROUP)
DetectedBy = Literal["publish", "read", "nogroup"]


@dataclass(frozen=True, slots=True)
class RedisRestart:
    """One restart as one bus saw it (``RedisStreamsBus.last_restart``, the log event
    ``bus_redis_restarted``)."""

    detected_by: DetectedBy
    epoch_before: str | None
    epoch_after: str
    #: the highest sequence this bus published or received, per topic, before the restart
    last_sequence: dict[str, int] = field(default_factory=dict)
    #: entries this consumer had left pending (handlers that raised), lost with the restart;
    #: a colleague may have claimed and handled some of them meanwhile, so at most this many
    pending_before: int = 0
