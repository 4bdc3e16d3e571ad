"""The event envelope: what every message on the bus looks like, in-process or across processes.

The payload is a plain JSON-compatible mapping so that a Redis Streams transport can carry the
same envelope unchanged; typed payloads convert with ``to_payload`` / their own ``from_payload``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quantum_trader.domain.records import record_builder

JsonValue = Any  # the payload is JSON-compatible; its shape is defined per topic


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
        return json.dumps(
            {
                "id": self.id,
                "type": self.type,
                "time": self.time,
                "source": self.source,
                "sequence": self.sequence,
                "payload": self.payload,
            },
            sort_keys=True,
            separators=(",", ":"),
            default=_json_default,
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


def to_payload(record: object) -> dict[str, JsonValue]:
    """A dataclass record as a JSON-compatible dict (enums as their values)."""
    if not dataclasses.is_dataclass(record) or isinstance(record, type):
        raise TypeError(f"expected a dataclass instance, got {type(record).__name__}")
    out: dict[str, JsonValue] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        out[f.name] = json.loads(json.dumps(value, default=_json_default))
    return out
