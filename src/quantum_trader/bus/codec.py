"""A topic and its codec: the one record type a topic carries, with one encoding and one decoding.

Encoding is :func:`~quantum_trader.bus.envelope.to_payload`: the record's fields in declaration
order, as a JSON round trip would give them back (enums as values, tuples as lists, nested
records as dicts). That is the wire format the publishers used before topics were typed, so the
event log of a replay hashes the same bytes.

Decoding is derived once per topic from the record's field types (``str``, ``int``, ``float``,
``bool``, enums, ``X | None``, ``tuple[X, ...]``, ``Mapping[str, Any]``, nested records), so a
record type and its decoder cannot drift apart. It accepts what the in-process bus delivers
(the publisher's values) and what the Redis bus delivers (the JSON of them), and refuses a
payload with a missing or unknown key, or a value of the wrong kind, naming the topic and field.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, Union, get_args, get_origin, get_type_hints

from quantum_trader.bus.envelope import JsonValue, to_payload
from quantum_trader.domain.errors import DataError

R = TypeVar("R")
_Convert = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Topic(Generic[R]):
    """A bus topic (its wire ``name``) and the record type its payloads encode.

    Build one with :func:`topic`; ``bus/topics.py`` holds them all.

    >>> from quantum_trader.domain.market import Candle
    >>> t = topic("market.candle.closed", Candle)
    >>> payload = t.encode(Candle("BTCUSDT", "1h", 0, 10.0, 11.0, 9.0, 10.5, 3.0))
    >>> payload["close"], t.keys[:3]
    (10.5, ('symbol', 'timeframe', 'open_time'))
    >>> t.decode(payload) == Candle("BTCUSDT", "1h", 0, 10.0, 11.0, 9.0, 10.5, 3.0)
    True
    """

    name: str
    record: type[R]
    #: the payload's keys, in order: the record's field names (the fast path publishes values
    #: alone, in this order: ``EventBus.publish_record``)
    keys: tuple[str, ...]
    _convert: tuple[_Convert, ...] = dataclasses.field(repr=False, compare=False)

    def encode(self, record: R) -> dict[str, JsonValue]:
        """The payload of ``record``."""
        if type(record) is not self.record:
            raise TypeError(
                f"topic {self.name!r} carries {self.record.__name__}, not {type(record).__name__}"
            )
        return to_payload(record)

    def decode(self, payload: Mapping[str, JsonValue]) -> R:
        """The record of ``payload``; DataError naming the topic and field if it does not fit."""
        if len(payload) != len(self.keys) or any(k not in payload for k in self.keys):
            missing = [k for k in self.keys if k not in payload]
            unknown = [k for k in payload if k not in self.keys]
            raise DataError(
                f"topic {self.name!r}: payload does not fit {self.record.__name__}"
                f" (missing {missing}, unknown {unknown})"
            )
        values = []
        for key, convert in zip(self.keys, self._convert, strict=True):
            try:
                values.append(convert(payload[key]))
            except (TypeError, ValueError) as exc:
                raise DataError(
                    f"topic {self.name!r}: {self.record.__name__}.{key}={payload[key]!r}: {exc}"
                ) from None
        return self.record(*values)


def topic(name: str, record: type[R]) -> Topic[R]:
    """The topic ``name`` carrying ``record`` (a dataclass), with its decoder built now."""
    keys, convert = _record_fields(record)
    return Topic(name, record, keys, convert)


def _record_fields(record: type[Any]) -> tuple[tuple[str, ...], tuple[_Convert, ...]]:
    if not dataclasses.is_dataclass(record):
        raise TypeError(f"a topic's record must be a dataclass, not {record!r}")
    hints = get_type_hints(record)
    fields = [f for f in dataclasses.fields(record) if f.init]
    keys = tuple(f.name for f in fields)
    return keys, tuple(_converter(hints[f.name], f"{record.__name__}.{f.name}") for f in fields)


def _converter(hint: Any, where: str) -> _Convert:
    """A function from a payload value to the field's value (or TypeError/ValueError)."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return _same
    if origin is Union or origin is types.UnionType:
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1 or len(args) != 2:
            raise TypeError(f"{where}: only `X | None` unions decode, not {hint}")
        return _optional(_converter(inner[0], where))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _tuple_of(_converter(args[0], where))
    if origin is tuple and args and Ellipsis not in args:
        return _fixed_tuple(tuple(_converter(a, where) for a in args))
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return _mapping
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            return hint
        if dataclasses.is_dataclass(hint):
            return _nested(hint)
        scalar = _SCALARS.get(hint)
        if scalar is not None:
            return scalar
    raise TypeError(f"{where}: no decoder for a field of type {hint}")


def _same(value: Any) -> Any:
    return value


def _optional(convert: _Convert) -> _Convert:
    return lambda value: None if value is None else convert(value)


def _tuple_of(convert: _Convert) -> _Convert:
    def decode(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return tuple(convert(v) for v in value)

    return decode


def _fixed_tuple(converts: tuple[_Convert, ...]) -> _Convert:
    def decode(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple) or len(value) != len(converts):
            raise TypeError(f"expected a list of {len(converts)} values, got {value!r}")
        return tuple(convert(v) for convert, v in zip(converts, value, strict=True))

    return decode


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping, got {type(value).__name__}")
    return dict(value)


def _nested(record: type[Any]) -> _Convert:
    inner = topic(f"<{record.__name__}>", record)
    return lambda value: inner.decode(_mapping(value))


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a bool")
    return operator.index(value)  # ints and integer scalars (numpy), never a float or text


def _float(value: Any) -> float:
    if isinstance(value, bool | str | bytes):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


_SCALARS: dict[object, _Convert] = {str: _str, int: _int, float: _float, bool: _bool}
