"""An order as a JSON-safe dict and back, for the simulated exchange's checkpoints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from quantum_trader.domain.decisions import ref_or_none
from quantum_trader.domain.orders import Order, OrderStatus, OrderType, Side


def order_to_dict(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "order_type": order.order_type.value,
        "quantity": order.quantity,
        "created_at": order.created_at,
        "price": order.price,
        "stop_price": order.stop_price,
        "reduce_only": order.reduce_only,
        "status": order.status.value,
        "filled_quantity": order.filled_quantity,
        "average_price": order.average_price,
        "updated_at": order.updated_at,
        "reason": order.reason,
        "decision": None if order.decision is None else order.decision.to_dict(),
    }


def order_from_dict(raw: Mapping[str, Any]) -> Order:
    return replace(
        Order(
            client_order_id=raw["client_order_id"],
            symbol=raw["symbol"],
            side=Side(raw["side"]),
            order_type=OrderType(raw["order_type"]),
            quantity=float(raw["quantity"]),
            created_at=int(raw["created_at"]),
            price=raw["price"],
            stop_price=raw["stop_price"],
            reduce_only=bool(raw["reduce_only"]),
        ),
        status=OrderStatus(raw["status"]),
        filled_quantity=float(raw["filled_quantity"]),
        average_price=float(raw["average_price"]),
        updated_at=raw["updated_at"],
        reason=raw["reason"],
        decision=ref_or_none(raw.get("decision")),
    )
