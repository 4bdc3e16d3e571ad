"""``to_payload`` builds what a JSON round trip of each field gives, without the round trip."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantum_trader.bus.envelope import _json_default, to_payload
from quantum_trader.domain import OrderIntent, Side


class Colour(enum.Enum):
    RED = "red"
    PAIR = (1, 2)


class Level(enum.IntEnum):
    LOW = 1


class Mode(enum.StrEnum):
    FAST = "fast"


@dataclass(frozen=True)
class Inner:
    name: str
    level: Level = Level.LOW


@dataclass(frozen=True)
class Record:
    value: Any
    extra: dict[Any, Any] = field(default_factory=dict)


def _round_trip(record: object) -> dict[str, Any]:
    return {
        f.name: json.loads(json.dumps(getattr(record, f.name), default=_json_default))
        for f in fields(record)  # type: ignore[arg-type]
    }


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.sampled_from([*Colour, *Level, *Mode]),
    st.builds(Inner, st.text(max_size=3)),
)
keys = st.one_of(
    st.text(max_size=3), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(keys, inner, max_size=3),
    ),
    max_leaves=12,
)


@given(values, st.dictionaries(keys, values, max_size=3))
def test_payload_equals_the_json_round_trip(value: Any, extra: dict[Any, Any]) -> None:
    record = Record(value, extra)
    got = to_payload(record)
    assert got == _round_trip(record)
    assert json.dumps(got, sort_keys=True) == json.dumps(_round_trip(record), sort_keys=True)


def test_domain_record_and_special_floats() -> None:
    intent = OrderIntent("BTCUSDT", Side.BUY, 0.5, stop_loss=90.0, take_profit=120.0)
    assert to_payload(intent) == _round_trip(intent)
    nan = to_payload(Record(math.nan))["value"]
    assert math.isnan(nan) and to_payload(Record(math.inf))["value"] == math.inf
    assert type(to_payload(Record(Mode.FAST))["value"]) is str


@pytest.mark.parametrize("bad", [object(), {1, 2}, {(1, 2): 3}, b"bytes"])
def test_unserialisable_values_are_refused_as_json_would(bad: object) -> None:
    with pytest.raises(TypeError):
        json.dumps(bad, default=_json_default)
    with pytest.raises(TypeError):
        to_payload(Record(bad))
