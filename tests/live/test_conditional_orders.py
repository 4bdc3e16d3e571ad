"""A stop-loss (``STOP_MARKET``) through real ccxt 4.5.90 to the exchange double: ccxt sends it
to Binance's algo-order API (``/fapi/v1/algoOrder``), and :class:`CcxtVenue` reads, lists and
cancels it there (``execution/ccxt_conditional.py``)."""

from __future__ import annotations

import pytest

from quantum_trader.domain.orders import OrderStatus, OrderType, Side
from tests.exchange_double import ExchangeDouble
from tests.exchange_double.book import VenueError
from tests.live.conftest import manager_for, venue_for


def test_a_stop_lives_on_the_algo_order_api(double: ExchangeDouble) -> None:
    venue = venue_for(double)
    orders = manager_for(venue, double)
    orders.submit("BTCUSDT", Side.BUY, 0.004)
    stop = orders.submit(
        "BTCUSDT",
        Side.SELL,
        0.004,
        OrderType.STOP_MARKET,
        stop_price=48_000.0,
        reduce_only=True,
        tag="stop_loss",
    )
    assert stop.status is OrderStatus.NEW
    assert double.requests["POST /fapi/v1/algoOrder"] == 1
    assert double.requests["POST /fapi/v1/order"] == 1  # the entry only
    (held,) = double.book.algo_orders.values()
    assert (held.client_order_id, held.stop_price, held.reduce_only) == (
        stop.client_order_id,
        48_000.0,
        True,
    )
    # listed among the open orders as the stop it is, with the venue's ids
    (listed,) = venue.open_orders()
    assert (listed.client_order_id, listed.order_type, listed.stop_price, listed.side) == (
        stop.client_order_id,
        OrderType.STOP_MARKET,
        48_000.0,
        Side.SELL,
    )
    assert listed.reduce_only and listed.status is OrderStatus.NEW
    looked_up = venue.fetch_order(stop.client_order_id)
    assert looked_up is not None and looked_up.status is OrderStatus.NEW
    assert double.requests["GET /fapi/v1/algoOrder"] == 1
    # a process that never sent it (a restart) finds it by client id and symbol: not among
    # the plain orders, then among the stops
    fresh = venue_for(double)  # its requests counted from here
    found = fresh.fetch_order(stop.client_order_id, "BTCUSDT")
    assert found is not None and found.order_type is OrderType.STOP_MARKET
    assert double.requests["GET /fapi/v1/order"] == double.requests["GET /fapi/v1/algoOrder"] == 1
    assert fresh.fetch_order("qt-never-sent", "BTCUSDT") is None
    cancelled = orders.cancel(stop.client_order_id)
    assert cancelled.status is OrderStatus.CANCELED
    assert double.requests["DELETE /fapi/v1/algoOrder"] == 1 and held.status == "CANCELED"
    assert venue.open_orders() == []


def test_the_plain_order_endpoint_refuses_a_stop_as_binance_does(double: ExchangeDouble) -> None:
    with double.book.lock, pytest.raises(VenueError) as refused:
        double.book.create(
            symbol="BTCUSDT",
            side="SELL",
            type="STOP_MARKET",
            quantity=0.004,
            price=0.0,
            reduce_only=False,
            client_order_id="plain-stop",
            now_ms=0,
            stop_price=48_000.0,
        )
    assert refused.value.code == -4120 and "Algo Order API" in refused.value.msg


def test_a_triggered_stop_is_read_as_the_order_it_became(double: ExchangeDouble) -> None:
    """The venue's price falls through the stop: the poll reads the market order the stop
    became (``actualOrderId``) and reports its trade as the stop's fill, once."""
    venue = venue_for(double)
    orders = manager_for(venue, double)
    orders.submit("BTCUSDT", Side.BUY, 0.004)
    stop = orders.submit(
        "BTCUSDT",
        Side.SELL,
        0.004,
        OrderType.STOP_MARKET,
        stop_price=48_000.0,
        reduce_only=True,
        tag="stop_loss",
    )
    venue.poll()
    waiting = orders.get(stop.client_order_id)
    assert waiting is not None and waiting.status is OrderStatus.NEW
    double.book.set_mark("BTCUSDT", 47_900.0)
    venue.poll()
    done = orders.get(stop.client_order_id)
    assert done is not None and done.status is OrderStatus.FILLED
    assert (done.filled_quantity, done.average_price) == (pytest.approx(0.004), 47_900.0)
    (held,) = double.book.algo_orders.values()
    (trade,) = [t for t in double.book.trades if t.order_id == held.actual_order_id]
    assert [f.fill_id for f in orders.fill_log if f.client_order_id == stop.client_order_id] == [
        f"{stop.client_order_id}#{trade.trade_id}"
    ]
    venue.poll()  # finished: not asked about again, nothing reported twice
    assert len(orders.fill_log) == 2 and orders.duplicate_fills == 0
    # a process that never sent it finds the stop's trade under the stop's client id
    fresh = venue_for(double)
    assert [f.client_order_id for f in fresh.recent_fills(0)][-1] == stop.client_order_id
