"""Event payloads of execution records, built directly (no JSON round trip per field).

Same keys and values as ``bus.envelope.to_payload`` gives for these dataclasses (the fill event
adds its order's new state); this path runs for every order update and fill of a replay, so it
avoids the generic converter's cost.

Each payload's keys are fixed by its topic, so the publishers send the values alone, in the
order of the ``*_KEYS`` tuple (``EventBus.publish_record``): the bus builds the mapping only
when a subscriber needs it, and the replay's event log hashes the values.
"""

from __future__ import annotations

from typing import Any

from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType, Side
from quantum_trader.domain.positions import Trade

# enum member -> plain value: ``.value`` on an enum member is a slow descriptor in Python 3.11
_VALUE: dict[object, str] = {m: m.value for enum in (Side, OrderType, OrderStatus) for m in enum}

ORDER_KEYS: tuple[str, ...] = (
    "client_order_id",
    "symbol",
    "side",
    "order_type",
    "quantity",
    "created_at",
    "price",
    "stop_price",
    "reduce_only",
    "status",
    "filled_quantity",
    "average_price",
    "updated_at",
    "reason",
)
FILL_EVENT_KEYS: tuple[str, ...] = (
    "fill_id",
    "client_order_id",
    "symbol",
    "side",
    "quantity",
    "price",
    "fee",
    "time",
    "is_maker",
    "order_status",
    "order_filled_quantity",
    "order_average_price",
)
TRADE_KEYS: tuple[str, ...] = (
    "trade_id",
    "symbol",
    "side",
    "quantity",
    "entry_price",
    "exit_price",
    "entry_time",
    "exit_time",
    "pnl",
    "fees",
    "funding",
    "strategy",
    "exit_reason",
)


def order_values(o: Order) -> tuple[Any, ...]:
    """The ``execution.order.*`` payload's values, in :data:`ORDER_KEYS` order."""
    return (
        o.client_order_id,
        o.symbol,
        _VALUE[o.side],
        _VALUE[o.order_type],
        o.quantity,
        o.created_at,
        o.price,
        o.stop_price,
        o.reduce_only,
        _VALUE[o.status],
        o.filled_quantity,
        o.average_price,
        o.updated_at,
        o.reason,
    )


def fill_event_values(f: Fill, o: Order) -> tuple[Any, ...]:
    """The ``execution.order.filled`` payload's values (the fill, and the state of its order
    after it), in :data:`FILL_EVENT_KEYS` order."""
    return (
        f.fill_id,
        f.client_order_id,
        f.symbol,
        _VALUE[f.side],
        f.quantity,
        f.price,
        f.fee,
        f.time,
        f.is_maker,
        _VALUE[o.status],
        o.filled_quantity,
        o.average_price,
    )


def trade_values(t: Trade) -> tuple[Any, ...]:
    """The ``execution.trade.closed`` payload's values, in :data:`TRADE_KEYS` order."""
    return (
        t.trade_id,
        t.symbol,
        _VALUE[t.side],
        t.quantity,
        t.entry_price,
        t.exit_price,
        t.entry_time,
        t.exit_time,
        t.pnl,
        t.fees,
        t.funding,
        t.strategy,
        t.exit_reason,
    )


def order_payload(o: Order) -> dict[str, Any]:
    return dict(zip(ORDER_KEYS, order_values(o), strict=True))


def fill_event_payload(f: Fill, o: Order) -> dict[str, Any]:
    """The ``execution.order.filled`` payload: the fill, and the state of its order after it."""
    return dict(zip(FILL_EVENT_KEYS, fill_event_values(f, o), strict=True))


def trade_payload(t: Trade) -> dict[str, Any]:
    return dict(zip(TRADE_KEYS, trade_values(t), strict=True))
