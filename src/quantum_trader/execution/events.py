"""Event payloads of execution records, as values in their topic's key order (the fast path).

The same keys and values as the topic's codec (``bus/topics.py``) encodes for these records
(``tests/execution/test_orders_and_fills.py`` holds them equal), built without it: this path
runs for every order update and fill of a replay, and the generic encoder costs several times
more. The publishers send the values alone (``EventBus.publish_record``): the bus builds the
mapping only when a subscriber needs it, and the replay's event log hashes the values.
"""

from __future__ import annotations

from typing import Any

from quantum_trader.bus import topics
from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType, Side
from quantum_trader.domain.positions import Trade

# enum member -> plain value: ``.value`` on an enum member is a slow descriptor in Python 3.11
_VALUE: dict[object, str] = {m: m.value for enum in (Side, OrderType, OrderStatus) for m in enum}

#: the payload keys of each topic, from the topic's codec (the record's fields, in order)
ORDER_KEYS: tuple[str, ...] = topics.ORDER_SUBMITTED.keys
FILL_EVENT_KEYS: tuple[str, ...] = topics.ORDER_FILLED.keys
TRADE_KEYS: tuple[str, ...] = topics.TRADE_CLOSED.keys


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
        None if o.decision is None else o.decision.to_dict(),
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
        None if t.decision is None else t.decision.to_dict(),
    )
