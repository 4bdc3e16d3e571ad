"""The event envelope: what every message on the bus looks like, in-process or across processes.

The payload is a plain JSON-compatible mapping so that a Redis Streams transport can carry the
same envelope unchanged; each topic's record type and codec are in ``bus/topics.py``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quantum_trader.domain.records import record_builder

JsonValue = Any  # the payload is JSON-compatible; its shape is its topic's record (bus/topics.py)


@dataclass(frozen=True, slots=True)
class Event:
    """An event envelope.

    ``id`` is unique per run (``<run_id>:<sequence>``), ``sequence`` is the bus's monotonic
    counter, ``time`` the engine clock (epoch ms) at publication.
    """

    id: str
    type: str
    time: int
    source: str
    sequence: int
    payload: Mapping[str, JsonValue]

    def to_json(self) -> str:
        return _ENCODER.encode(
            {
                "id": self.id,
                "type": self.type,
                "time": self.time,
                "source": self.source,
                "sequence": self.sequence,
                "payload": self.payload,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Event:
        raw = json.loads(text)
        return cls(
            id=raw["id"],
            type=raw["type"],
            time=int(raw["time"]),
            source=raw["source"],
            sequence=int(raw["sequence"]),
            payload=raw["payload"],
        )


#: Positional constructor for publishers of many events (see ``domain.records``).
build_event = record_builder(Event)


def _json_default(value: object) -> JsonValue:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_payload(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable in an event payload")


#: ``json.dumps`` with any option builds an encoder per call; the Redis bus and the candle
#: stream encode every event, so one is kept (the same text as ``json.dumps`` with these)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_json_default)


def to_payload(record: object) -> dict[str, JsonValue]:
    """A dataclass record as a JSON-compatible dict (enums as their values).

    The result is what a JSON round trip of each field gives (``json.loads(json.dumps(v))``:
    tuples as lists, mapping keys as strings, enums as their values, nested records as
    dicts), built directly: a round trip per field cost ~0.2 ms per risk decision.
    ``tests/bus/test_envelope.py`` holds the two equal.
    """
    if not dataclasses.is_dataclass(record) or isinstance(record, type):
        raise TypeError(f"expected a dataclass instance, got {type(record).__name__}")
    return {f.name: _plain(getattr(record, f.name)) for f in dataclasses.fields(record)}


def _plain(value: object) -> JsonValue:
    """``value`` as JSON would give it back (see :func:`to_payload`)."""
    kind = type(value)
    if value is None or kind is str or kind is float or kind is int or kind is bool:
        return value
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, int):  # a subclass (bool has none): JSON writes the plain value
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain_key(k): _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_payload(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable in an event payload")


def _plain_key(key: object) -> str:
    """A mapping key as JSON writes it."""
    if isinstance(key, str):
        return str(key)
    if key is None or isinstance(key, int | float):  # bools included: "true", "false"
        return json.dumps(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
