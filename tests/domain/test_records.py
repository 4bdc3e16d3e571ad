"""The hot path's record builders give exactly the records the constructors give."""

from __future__ import annotations

import dataclasses
import math
import pickle

import pytest

from quantum_trader.bus.envelope import Event, build_event
from quantum_trader.domain import DomainValidationError
from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.orders import (
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Side,
    build_fill,
    build_order,
)
from quantum_trader.domain.positions import Trade, build_trade
from quantum_trader.domain.records import record_builder

ORDER = ("c-1", "BTCUSDT", Side.SELL, OrderType.LIMIT, 2.0, 5, 10.5, None, True)
REF = DecisionRef("BTCUSDT@9", "Breakout", "regime_rules", "fixed_fractional", ("xgb@1",))
ORDER_STATE = (OrderStatus.PARTIALLY_FILLED, 1.0, 10.5, 9, "tp", REF)
FILL = ("c-1-F1", "c-1", "BTCUSDT", Side.SELL, 1.0, 10.5, 0.0021, 9, True)
TRADE = ("t-1", "BTCUSDT", Side.BUY, 2.0, 10.0, 10.5, 1, 9, 1.0, 0.01, -0.002, "s", "tp", None)


@pytest.mark.parametrize(
    ("record_type", "build", "values"),
    [
        (Order, build_order, ORDER + ORDER_STATE),
        (Fill, build_fill, FILL),
        (Trade, build_trade, TRADE),
        (Event, build_event, ("run:1", "t", 5, "src", 1, {"a": 1.5})),
    ],
)
def test_builder_record_is_the_constructed_record(
    record_type: type, build: object, values: tuple[object, ...]
) -> None:
    built = build(*values)  # type: ignore[operator]
    made = record_type(*values)
    assert type(built) is record_type
    assert built == made and repr(built) == repr(made)
    assert pickle.loads(pickle.dumps(built)) == made
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, dataclasses.fields(built)[0].name, "changed")
    if record_type is not Event:  # an event's payload dict makes it unhashable, like the original
        assert hash(built) == hash(made)


NEW_ORDER = ("c-1", "BTCUSDT", Side.BUY, OrderType.MARKET, 1.0, 0, None, None, False)
NEW_STATE = (OrderStatus.NEW, 0.0, 0.0, None, "", None)


def _with(values: tuple[object, ...], index: int, value: object) -> tuple[object, ...]:
    return (*values[:index], value, *values[index + 1 :])


@pytest.mark.parametrize(
    ("build", "values", "field"),
    [
        (build_order, _with(NEW_ORDER + NEW_STATE, 4, -1.0), "quantity"),
        (build_order, _with(NEW_ORDER + NEW_STATE, 0, ""), "client_order_id"),
        (build_fill, _with(FILL, 5, math.nan), "price"),
        (build_fill, _with(FILL, 6, math.inf), "fee"),
        (build_trade, _with(TRADE, 7, 0), "exit_time"),
    ],
)
def test_builders_run_the_record_checks(
    build: object, values: tuple[object, ...], field: str
) -> None:
    with pytest.raises(DomainValidationError) as err:
        build(*values)  # type: ignore[operator]
    assert err.value.field == field


def test_builder_needs_a_slots_dataclass() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int

    with pytest.raises(TypeError, match="not a slots dataclass"):
        record_builder(NoSlots)


def test_a_decision_stored_before_it_had_a_regime_reads_back_without_one() -> None:
    ref = DecisionRef(
        "BTCUSDT@9", "Breakout", "regime_rules", "fixed_fractional", ("xgb@1",), "BULL"
    )
    stored = ref.to_dict()
    assert stored["regime"] == "BULL" and DecisionRef.from_dict(stored) == ref
    del stored["regime"]  # an exec_orders / exec_trades row written before issue 16
    assert DecisionRef.from_dict(stored).regime == ""
