"""Fills across an outage and in parts: polling after a disconnect window reports every fill
exactly once, partial fills arrive as increments, and the ids polling gives are the ids
``recent_fills`` (reconciliation) gives."""

from __future__ import annotations

import time

import pytest

from quantum_trader.domain.orders import OrderStatus, OrderType, Side
from tests.exchange_double import ExchangeDouble
from tests.exchange_double.book import MAKER_FEE, TAKER_FEE
from tests.live.conftest import manager_for, venue_for


def test_a_disconnect_during_fills_loses_none_and_duplicates_none(double: ExchangeDouble) -> None:
    venue = venue_for(double)
    om = manager_for(venue, double)
    prices = [50_100.0 + 10 * i for i in range(20)]
    for price in prices:
        om.submit("BTCUSDT", Side.SELL, 0.004, OrderType.LIMIT, price=price)
    double.book.partial_ratio = 0.5
    double.book.set_mark("BTCUSDT", 50_150.0)  # the first half crosses: half of each fills
    venue.poll()
    heard_before = len(om.fill_log)
    assert heard_before == 6  # 50,100 … 50,150: six orders, half filled each
    double.faults.disconnect_for(0.4)  # the outage: every request dropped, for 0.4 s
    double.book.set_mark("BTCUSDT", 60_000.0)  # everything crosses, in halves ...
    double.book.release()  # ... and the held halves fill too, all while unreachable
    for _ in range(3):
        assert venue.poll() == []
    assert venue.poll_failures >= 3 * 20 and len(om.fill_log) == heard_before
    while double.faults.is_disconnected():
        time.sleep(0.02)
    venue.poll()
    venue.poll()  # a second poll after recovery reports nothing again
    trades = {
        f"{o.client_order_id}#{t.trade_id}"
        for t in double.book.trades
        for o in double.book.orders.values()
        if o.order_id == t.order_id
    }
    assert [f.fill_id for f in om.fill_log] and {f.fill_id for f in om.fill_log} == trades
    assert len(om.fill_log) == len(trades) == 40 and om.duplicate_fills == 0
    assert all(o.status is OrderStatus.FILLED for o in om.orders.values())
    assert {f.fill_id for f in venue.recent_fills(0)} == trades  # reconciliation agrees


def test_partial_fills_are_reported_as_increments(double: ExchangeDouble) -> None:
    venue = venue_for(double)
    om = manager_for(venue, double)
    double.book.partial_ratio = 0.4
    order = om.submit("BTCUSDT", Side.BUY, 0.01)
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled_quantity == 0.004
    venue.poll()
    assert len(om.fill_log) == 1  # nothing new: nothing reported again
    double.book.release()
    double.book.set_mark("BTCUSDT", 50_500.0)
    venue.poll()
    fills = om.fill_log
    assert [f.quantity for f in fills] == pytest.approx([0.004, 0.006])
    assert [f.price for f in fills] == [50_000.0, 50_000.0]
    assert [f.fee for f in fills] == pytest.approx(
        [0.004 * 50_000 * TAKER_FEE, 0.006 * 50_000 * TAKER_FEE]
    )
    held = om.get(order.client_order_id)
    assert held is not None and held.status is OrderStatus.FILLED
    assert held.filled_quantity == pytest.approx(0.01)
    # a limit order filled by hand in two parts, then cancelled with the rest open
    limit = om.submit("BTCUSDT", Side.SELL, 0.01, OrderType.LIMIT, price=52_000.0)
    double.book.fill(limit.client_order_id, 0.003)
    venue.poll()
    double.book.fill(limit.client_order_id, 0.002)
    venue.poll()
    cancelled = om.cancel(limit.client_order_id)
    assert [f.quantity for f in om.fill_log[2:]] == pytest.approx([0.003, 0.002])
    assert om.fill_log[2].is_maker and om.fill_log[2].fee == pytest.approx(
        0.003 * 52_000 * MAKER_FEE
    )
    assert cancelled.status is OrderStatus.CANCELED and cancelled.filled_quantity == pytest.approx(
        0.005
    )


def test_delayed_fills_arrive_at_a_later_poll(double: ExchangeDouble) -> None:
    venue = venue_for(double)
    om = manager_for(venue, double)
    double.book.delay_fills = True
    order = om.submit("ETHUSDT", Side.SELL, 0.05)
    assert order.status is OrderStatus.NEW and not om.fill_log
    double.book.release()
    venue.poll()
    assert [f.quantity for f in om.fill_log] == [0.05]
    assert venue.positions()["ETHUSDT"].quantity == pytest.approx(-0.05)
