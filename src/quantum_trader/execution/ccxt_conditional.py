"""Conditional orders (``STOP_MARKET``) on Binance USDT-M through ccxt, for :mod:`.ccxt_venue`.

Binance moved conditional orders to its algo-order API in late 2025, and ccxt 4.5.90 (the
installed version, ``binance.py``) follows: ``create_order`` with a ``stopPrice`` /
``triggerPrice`` on a swap sends ``POST /fapi/v1/algoOrder`` (``algoType=CONDITIONAL``, the
client id as ``clientAlgoId``, the trigger as ``triggerPrice``) instead of ``/fapi/v1/order``.
Reading, cancelling and listing such an order take ``{"trigger": True}`` (``GET`` / ``DELETE
/fapi/v1/algoOrder``, ``GET /fapi/v1/openAlgoOrders``); without it ccxt asks the plain order
endpoints, which do not know the order. The answers differ too: ``algoStatus`` for ``status``,
``orderType`` for ``type`` (which ccxt's unified ``type`` turns into ``market`` for a
``STOP_MARKET``), and a cancel answers only ``{"algoId", "clientAlgoId", "code": "200"}``.
:func:`as_order` puts such an answer in the plain order's terms the mapping reads.

A triggered stop (``algoStatus`` ``TRIGGERED``, then ``FINISHED``) has become an order of its
own in the matching engine, named by ``actualOrderId`` (:func:`actual_order_id`); its fills are
that order's trades. The venue reads that order in the stop's place (``CcxtVenue.fetch_order``),
so the stop's status and fills are those of the order it became, under the stop's client id.

A close-all order (``closePosition=true``, ``STOP_MARKET`` or ``TAKE_PROFIT_MARKET``: what a
person sets on the venue's website as "close position") has no quantity: Binance answers
``quantity`` 0 and closes the whole position when it triggers. :func:`with_close_quantity`
gives it the size of the position it would close when it is read (its symbol, its exit side).
Why that size: it is exactly what the order would trade were it triggered now, so what counts
against a position's protection (``protective_stops.covering_stops``) is what it protects; it
is read again at every listing, so a later size is the size then. One with no position to
close on its side is left out of the listing: it can trade nothing now, and an order needs a
quantity (it is listed again once a position is there). Triggered, it trades the position
of that moment, which may have grown since it was read: :func:`fit_close_all` lets its
quantity grow to what it traded, where any other order's fill past its quantity is an error.
One that fired before any listing read it is met by its trade (``CcxtVenue.recent_fills``):
the trade's order, read by its venue id, is looked for on the algo-order API by the client id
it carries, and read as the stop there only when that stop names it as its ``actualOrderId``
(:func:`as_became`); the stop's answer says whether it was a close-all one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from quantum_trader.domain.orders import Order, OrderType
from quantum_trader.domain.positions import Position
from quantum_trader.execution.ccxt_mapping import (
    close_position_flag,
    closes_position,
    plain_symbol,
)

#: the ccxt parameter that routes a read, cancel or listing to the algo-order endpoints
CONDITIONAL: dict[str, Any] = {"trigger": True}
#: ``algoStatus`` values that are a plain order status (the rest, TRIGGERED, FINISHED … are not)
_PLAIN_STATUS = {"NEW", "CANCELED", "EXPIRED", "REJECTED"}


def is_conditional(order: Order) -> bool:
    """Whether the venue keeps ``order`` on the algo-order API (a stop)."""
    return order.order_type is OrderType.STOP_MARKET


def params_for(order: Order, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` of a read or cancel of ``order``, routed to the algo endpoints for a stop."""
    return {**params, **CONDITIONAL} if is_conditional(order) else params


def as_order(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """An algo-order answer with the exchange's type and status where the plain order's are
    read (``info.status``, the unified ``type``); a plain order's answer unchanged.

    >>> raw = {"type": "market", "info": {"algoId": 7, "orderType": "STOP_MARKET",
    ...        "algoStatus": "NEW"}}
    >>> fixed = as_order(raw)
    >>> fixed["type"], fixed["info"]["status"]
    ('stop_market', 'NEW')
    >>> as_order({"info": {"algoId": 7, "code": "200", "msg": "success"}})["info"]["status"]
    'CANCELED'
    """
    info = raw.get("info") or {}
    if info.get("algoId") is None:
        return raw
    fixed_info = dict(info)
    status = str(info.get("algoStatus") or "")
    if status in _PLAIN_STATUS:
        fixed_info["status"] = status
    elif not status and str(info.get("code")) == "200":  # the answer to a cancel
        fixed_info["status"] = "CANCELED"
    fixed = {**raw, "info": fixed_info}
    if info.get("orderType"):
        fixed["type"] = str(info["orderType"]).lower()
    return fixed


def actual_order_id(raw: Mapping[str, Any]) -> str | None:
    """The venue id of the order a triggered conditional order became; None for one still
    waiting, and for a plain order.

    >>> actual_order_id({"info": {"algoId": 7, "algoStatus": "FINISHED", "actualOrderId": "81"}})
    '81'
    >>> actual_order_id({"info": {"algoId": 7, "algoStatus": "NEW", "actualOrderId": ""}}) is None
    True
    """
    info = raw.get("info") or {}
    actual = str(info.get("actualOrderId") or "") if info.get("algoId") is not None else ""
    return actual if actual not in ("", "0") else None


def as_became(stop: Mapping[str, Any], actual: dict[str, Any]) -> dict[str, Any]:
    """``actual``, an order read by its venue id, as the triggered ``stop`` that became it: the
    stop's client id, type, trigger and close-all flag, with that order's quantity, fills and
    status (what ``CcxtVenue.fetch_order`` makes of a stop it knows). Only when ``stop`` names
    ``actual`` as its ``actualOrderId``: a shared client id alone links nothing, and ``actual``
    is returned unchanged.

    >>> stop = {"clientOrderId": "web-sl", "type": "market", "stopPrice": 2_950.0, "info": {
    ...     "algoId": 7, "orderType": "STOP_MARKET", "algoStatus": "FINISHED",
    ...     "actualOrderId": "81", "closePosition": True}}
    >>> actual = {"id": "81", "clientOrderId": "web-sl", "type": "market", "amount": 0.05,
    ...     "filled": 0.05, "info": {"orderId": 81, "status": "FILLED", "closePosition": False}}
    >>> read = as_became(stop, actual)
    >>> read["type"], read["stopPrice"], read["amount"], close_position_flag(read)
    ('stop_market', 2950.0, 0.05, True)
    >>> as_became(stop, {**actual, "id": "82"})["type"]
    'market'
    """
    venue_id = str(actual.get("id") or (actual.get("info") or {}).get("orderId") or "")
    if not venue_id or actual_order_id(stop) != venue_id:
        return actual
    fixed = as_order(stop)
    info = {**(actual.get("info") or {}), "closePosition": close_position_flag(fixed)}
    return {
        **actual,
        "info": info,
        "clientOrderId": fixed.get("clientOrderId"),
        "type": fixed.get("type"),
        "stopPrice": fixed.get("stopPrice") or fixed.get("triggerPrice"),
    }


def with_close_quantity(
    raws: Iterable[Mapping[str, Any]], positions: Callable[[], Mapping[str, Position]]
) -> list[Mapping[str, Any]]:
    """``raws`` with each close-all order given the size of the position it closes (module
    docstring); one closing nothing now is left out. ``positions`` (the venue's, by symbol) is
    read once, and only when there is a close-all order.

    >>> raw = {"side": "sell", "amount": 0, "info": {"symbol": "BTCUSDT", "closePosition": True}}
    >>> long = {"BTCUSDT": Position("BTCUSDT", 0.004, 50_000.0)}
    >>> [r["amount"] for r in with_close_quantity([raw], lambda: long)]
    [0.004]
    >>> with_close_quantity([raw], lambda: {"BTCUSDT": Position("BTCUSDT", -0.004, 50_000.0)})
    []
    """
    listed = list(raws)
    if not any(close_position_flag(r) for r in listed):
        return listed
    held = positions()
    out: list[Mapping[str, Any]] = []
    for raw in listed:
        if not close_position_flag(raw):
            out.append(raw)
            continue
        position = held.get(plain_symbol(raw))
        size = position.quantity if position is not None else 0.0
        closing = -size if str(raw.get("side")).lower() == "buy" else size
        if closing > 0:
            out.append({**raw, "amount": closing})
    return out


def fit_close_all(order: Order, fill_quantity: float) -> Order:
    """``order`` with room for a fill of ``fill_quantity``: a close-all order read when the
    position was smaller closes the whole position it finds when triggered. Any other order
    is returned unchanged (its overfill stays the error it is)."""
    if not closes_position(order) or fill_quantity <= order.remaining:
        return order
    return replace(order, quantity=order.filled_quantity + fill_quantity)
