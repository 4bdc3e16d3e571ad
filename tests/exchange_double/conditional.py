"""Conditional orders on the exchange double: when one triggers, and how the algo-order API
shows it (``GET /fapi/v1/algoOrder``, ``/fapi/v1/openAlgoOrders``).

What the double follows, from Binance's USDⓈ-M futures API documentation ("New Algo Order",
``POST /fapi/v1/algoOrder``, and the ``ALGO_UPDATE`` user-data event), read December 2026:

* **When it triggers.** A stop (``STOP_MARKET``) to buy triggers when the price rises to its
  trigger price or above, one to sell when the price falls to it or below; a take-profit
  (``TAKE_PROFIT_MARKET``) the other way round (a sell take-profit when the price rises to it).
  An order the price has already reached is refused when placed: ``-2021`` "Order would
  immediately trigger."
* **Which price.** ``workingType`` picks the mark price or the contract's last price
  (``CONTRACT_PRICE``, the default). The double has one price per symbol,
  :meth:`~.book.Book.set_mark`, which stands for both.
* **What it becomes.** Triggered, the algo order is handed to the matching engine as an order of
  its own, whose id the algo order reports as ``actualOrderId``; ``algoStatus`` goes
  ``TRIGGERED`` (placed in the matching engine), then ``FINISHED`` once that order is filled
  or cancelled there. The algo order is no longer listed as open, and cancelling it is refused
  (``-2011``); its fills are trades of the actual order (``userTrades`` by that ``orderId``).
  ``EXPIRED`` is the system cancelling it; the double uses it for a reduce-only order that
  finds no position left to reduce (the reduce-only rule: it never opens or grows one).
* **Close-all.** ``closePosition=true`` is taken with ``STOP_MARKET`` and ``TAKE_PROFIT_MARKET``
  only, without a quantity: triggered, the order closes the whole position on its exit side,
  its size at that moment. Its answers show ``quantity`` 0 and ``closePosition`` true; the
  double also shows ``reduceOnly`` true (it can only close), and triggered with no position
  on its exit side it ends ``EXPIRED`` as a reduce-only one does.

Not documented, chosen here: the actual order carries the algo order's client id as its
``clientOrderId`` (so a trade's order, looked up by id, names the stop that caused it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.exchange_double.book import VenueOrder

#: the order types the algo-order API takes here (market stops; no limit stops, no trailing)
CONDITIONAL_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")


def triggers(type: str, side: str, trigger_price: float, price: float) -> bool:
    """Whether ``price`` reaches a conditional order's trigger.

    >>> triggers("STOP_MARKET", "SELL", 49_000.0, 49_000.0)  # a long's stop-loss
    True
    >>> triggers("TAKE_PROFIT_MARKET", "SELL", 51_000.0, 50_999.9)  # a long's take-profit
    False
    """
    rising = (side == "BUY") == (type == "STOP_MARKET")  # buy stop, sell take-profit
    return price >= trigger_price if rising else price <= trigger_price


def algo_json(o: VenueOrder, status: str, actual: VenueOrder | None) -> dict[str, Any]:
    """A conditional order as the algo-order API shows it (the fields ccxt 4.5.90 documents
    for a linear conditional order); ``status``: its ``algoStatus``; ``actual``: the order it
    became when triggered."""
    return {
        "algoId": o.order_id,
        "clientAlgoId": o.client_order_id,
        "algoType": "CONDITIONAL",
        "orderType": o.type,
        "symbol": o.symbol,
        "side": o.side,
        "positionSide": "BOTH",
        "timeInForce": "GTC",
        "quantity": "0" if o.close_position else str(o.quantity),
        "algoStatus": status,
        "triggerPrice": str(o.stop_price),
        "price": "0",
        "icebergQuantity": None,
        "selfTradePreventionMode": "NONE",
        "workingType": "CONTRACT_PRICE",
        "priceMatch": "NONE",
        "closePosition": o.close_position,
        "priceProtect": False,
        "reduceOnly": o.reduce_only or o.close_position,
        "createTime": o.time,
        "updateTime": o.updated,
        "triggerTime": o.trigger_time,
        "goodTillDate": 0,
        "actualOrderId": str(actual.order_id) if actual is not None else "",
        "executedQty": str(actual.filled if actual is not None else 0.0),
        "avgPrice": str(actual.average if actual is not None else 0.0),
    }
