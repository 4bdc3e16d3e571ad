"""Event payloads of execution records, built directly (no JSON round trip per field).

Same keys and values as ``bus.envelope.to_payload`` gives for these dataclasses (the fill event
adds its order's new state); this path runs for every order update and fill of a replay, so it
avoids the generic converter's cost.
"""

from __future__ import annotations

from typing import Any

from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType, Side
from quantum_trader.domain.positions import Trade

# enum member -> plain value: ``.value`` on an enum member is a slow descriptor in Python 3.11
_VALUE: dict[object, str] = {m: m.value for enum in (Side, OrderType, OrderStatus) for m in enum}


def order_payload(o: Order) -> dict[str, Any]:
    return {
        "client_order_id": o.client_order_id,
        "symbol": o.symbol,
        "side": _VALUE[o.side],
        "order_type": _VALUE[o.order_type],
        "quantity": o.quantity,
        "created_at": o.created_at,
        "price": o.price,
        "stop_price": o.stop_price,
        "reduce_only": o.reduce_only,
        "status": _VALUE[o.status],
        "filled_quantity": o.filled_quantity,
        "average_price": o.average_price,
        "updated_at": o.updated_at,
        "reason": o.reason,
    }


def fill_event_payload(f: Fill, o: Order) -> dict[str, Any]:
    """The ``execution.order.filled`` payload: the fill, and the state of its order after it."""
    return {
        "fill_id": f.fill_id,
        "client_order_id": f.client_order_id,
        "symbol": f.symbol,
        "side": _VALUE[f.side],
        "quantity": f.quantity,
        "price": f.price,
        "fee": f.fee,
        "time": f.time,
        "is_maker": f.is_maker,
        "order_status": _VALUE[o.status],
        "order_filled_quantity": o.filled_quantity,
        "order_average_price": o.average_price,
    }


def trade_payload(t: Trade) -> dict[str, Any]:
    return {
        "trade_id": t.trade_id,
        "symbol": t.symbol,
        "side": _VALUE[t.side],
        "quantity": t.quantity,
        "entry_price": t.entry_price,
        "exit_price": t.exit_price,
        "entry_time": t.entry_time,
        "exit_time": t.exit_time,
        "pnl": t.pnl,
        "fees": t.fees,
        "funding": t.funding,
        "strategy": t.strategy,
        "exit_reason": t.exit_reason,
    }
