"""ccxt's unified structures (Binance USDT-M) → domain records, for :mod:`.ccxt_venue`.

Pure functions over the dicts ccxt returns; the exchange's own fields (``info``) are preferred
where ccxt's unified ones lose something (the plain symbol, the exact order status).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quantum_trader.domain.errors import DataError
from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType, Side

STATUS = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
}
UNIFIED_STATUS = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
_TYPES = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop_market": OrderType.STOP_MARKET,
    "stop": OrderType.STOP_MARKET,
    # the engine never sends one; read from the venue (placed by hand) it is a conditional
    # market order like a stop, kept on the same algo-order API, told apart by its reason
    "take_profit_market": OrderType.STOP_MARKET,
}

#: ``Order.reason`` of what a venue order is and the domain's order has no field for: a
#: ``TAKE_PROFIT_MARKET`` (it triggers on a favourable move: a take-profit, not a stop-loss)
#: and a close-all order (``closePosition=true``: no quantity of its own, it closes the whole
#: position). Set only on orders read from the venue; the engine's own tags never start so.
TAKE_PROFIT_MARKET = "venue: TAKE_PROFIT_MARKET"
CLOSE_POSITION = "venue: closePosition"


def is_take_profit_market(order: Order) -> bool:
    return TAKE_PROFIT_MARKET in order.reason


def closes_position(order: Order) -> bool:
    """Whether ``order`` is a close-all order read from the venue (``closePosition=true``)."""
    return CLOSE_POSITION in order.reason


def close_position_flag(raw: Mapping[str, Any]) -> bool:
    """Whether a ccxt order structure is a close-all order (Binance's ``closePosition``).

    >>> close_position_flag({"info": {"closePosition": "true"}})
    True
    >>> close_position_flag({"info": {"closePosition": False}})
    False
    """
    return str((raw.get("info") or {}).get("closePosition", "")).lower() == "true"


def plain_symbol(raw: Mapping[str, Any]) -> str:
    """``BTCUSDT`` from a ccxt structure (``info.symbol``, else the unified ``BTC/USDT:USDT``).

    >>> plain_symbol({"symbol": "ETH/USDT:USDT", "info": {}})
    'ETHUSDT'
    """
    info = raw.get("info") or {}
    if info.get("symbol"):
        return str(info["symbol"])
    unified = str(raw.get("symbol") or "")
    base, _, rest = unified.partition("/")
    if not base or not rest:
        raise DataError(f"ccxt structure without a symbol: {dict(raw)!r:.200}")
    return base + rest.split(":")[0]


def order_status(raw: Mapping[str, Any]) -> OrderStatus:
    """The exchange's status when it gives one, else ccxt's unified status."""
    info = raw.get("info") or {}
    status = STATUS.get(str(info.get("status", "")).upper())
    if status is not None:
        return status
    status = UNIFIED_STATUS.get(str(raw.get("status")), OrderStatus.NEW)
    if status is OrderStatus.NEW and float(raw.get("filled") or 0.0) > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def order_from_ccxt(raw: Mapping[str, Any]) -> Order:
    """A venue order as a domain :class:`Order` (one this session may never have submitted:
    an open order found after a restart, or one placed by hand)."""
    cid = str(raw.get("clientOrderId") or (raw.get("info") or {}).get("clientOrderId") or "")
    if not cid:
        raise DataError(f"venue order {raw.get('id')!r} has no client order id")
    order_type = _TYPES.get(str(raw.get("type") or "").lower())
    if order_type is None:
        raise DataError(f"venue order {cid}: type {raw.get('type')!r} is not one the engine uses")
    quantity = float(raw.get("amount") or 0.0)
    close_all = close_position_flag(raw)
    if close_all and quantity <= 0:
        raise DataError(
            f"venue order {cid}: closePosition has no quantity of its own; read it with the "
            "position it closes (ccxt_conditional.with_close_quantity)"
        )
    filled = min(float(raw.get("filled") or 0.0), quantity)
    price = float(raw.get("price") or 0.0)
    stop = float(raw.get("stopPrice") or raw.get("triggerPrice") or 0.0)
    created = int(raw.get("timestamp") or 0)
    updated = raw.get("lastUpdateTimestamp") or raw.get("lastTradeTimestamp")
    kind = [TAKE_PROFIT_MARKET] if str(raw.get("type")).lower() == "take_profit_market" else []
    reason = " ".join(kind + [CLOSE_POSITION] * close_all)
    return Order(
        cid,
        plain_symbol(raw),
        Side.BUY if str(raw.get("side")).lower() == "buy" else Side.SELL,
        order_type,
        quantity,
        created,
        price if price > 0 and order_type is OrderType.LIMIT else None,
        stop if stop > 0 else None,
        bool(raw.get("reduceOnly")) or close_all,  # a close-all order can only close
        order_status(raw),
        filled,
        float(raw.get("average") or 0.0) if filled > 0 else 0.0,
        int(updated) if updated else None,
        reason,
    )


def fill_id(client_order_id: str, trade_id: str) -> str:
    """A fill's id: its order's client id and the venue's trade id — the same trade read again
    (a second poll, reconciliation, a restart) is the same fill.

    >>> fill_id("run-BTCUSDT-7", "5301")
    'run-BTCUSDT-7#5301'
    """
    return f"{client_order_id}#{trade_id}"


def fill_from_trade(trade: Mapping[str, Any], client_order_id: str) -> Fill:
    """A ccxt trade (``fetch_my_trades``, Binance ``userTrades``) as a domain :class:`Fill`."""
    fee = trade.get("fee") or {}
    info = trade.get("info") or {}
    maker = trade.get("takerOrMaker") == "maker" or bool(info.get("maker"))
    return Fill(
        fill_id(client_order_id, str(trade["id"])),
        client_order_id,
        plain_symbol(trade),
        Side.BUY if str(trade.get("side")).lower() == "buy" else Side.SELL,
        float(trade["amount"]),
        float(trade["price"]),
        float(fee.get("cost") or 0.0),
        int(trade.get("timestamp") or 0),
        is_maker=maker,
    )


def trade_order_id(trade: Mapping[str, Any]) -> str:
    return str(trade.get("order") or (trade.get("info") or {}).get("orderId") or "")


def retry_after_s(headers: Mapping[str, Any] | None) -> float | None:
    """The ``Retry-After`` of the last answer, in seconds (None when absent or not a number).

    >>> retry_after_s({"Retry-After": "3"})
    3.0
    """
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else None
    except (TypeError, ValueError):
        return None
