"""One venue order per intent when answers are lost: timeouts after the venue accepted the
order, 5xx before and after it did, and a client order id sent twice (issue 23 items 2 and 5)."""

from __future__ import annotations

from collections import Counter

import pytest

from quantum_trader.domain.orders import Order, OrderStatus, OrderType, Side
from tests.exchange_double import ExchangeDouble
from tests.live.conftest import manager_for, venue_for

N_SUBMITS = 500  # bench/bench_exchange_double.py runs 10,000


def test_a_fifth_of_submits_timing_out_after_acceptance_creates_no_duplicate(
    double: ExchangeDouble,
) -> None:
    double.faults.timeout_after_accept = 0.2  # accepted, then the connection is dropped
    om = manager_for(venue_for(double), double)
    held = [om.submit("BTCUSDT", Side.BUY, 0.003) for _ in range(N_SUBMITS)]
    venue_orders = Counter(o.client_order_id for o in double.book.orders.values())
    assert len(venue_orders) == N_SUBMITS and max(venue_orders.values()) == 1
    assert double.book.duplicate_attempts == 0
    posts, lookups = double.requests["POST /fapi/v1/order"], double.requests["GET /fapi/v1/order"]
    assert posts == N_SUBMITS  # nothing was sent twice ...
    assert 0.15 * N_SUBMITS < lookups < 0.25 * N_SUBMITS  # ... each lost answer was looked up
    assert all(o.status is OrderStatus.FILLED for o in held)  # and every intent resolved
    assert {o.client_order_id for o in held} == set(venue_orders)
    assert len(om.fill_log) == N_SUBMITS and om.duplicate_fills == 0


def test_a_submit_answered_after_the_client_gave_up_is_found_by_lookup(
    double: ExchangeDouble,
) -> None:
    double.faults.timeout_after_accept, double.faults.timeout_mode = 1.0, "stall"
    double.faults.stall_s = 0.5
    om = manager_for(venue_for(double, timeout_ms=150), double)
    order = om.submit("BTCUSDT", Side.BUY, 0.004)
    assert order.status is OrderStatus.FILLED and order.filled_quantity == 0.004
    assert double.requests["POST /fapi/v1/order"] == 1 and len(double.book.orders) == 1


@pytest.mark.parametrize("code", [None, -1007, -1001])
def test_a_5xx_after_acceptance_resolves_by_lookup_and_sends_nothing_again(
    double: ExchangeDouble, code: int | None
) -> None:
    double.faults.server_error_after_accept_next = 1
    double.faults.server_error_code = code  # a plain 503, or Binance's "status unknown" body
    om = manager_for(venue_for(double), double)
    order = om.submit("BTCUSDT", Side.SELL, 0.003, OrderType.LIMIT, price=60_000.0)
    assert order.status is OrderStatus.NEW
    assert double.requests["POST /fapi/v1/order"] == 1
    assert double.requests["GET /fapi/v1/order"] == 1
    assert len(double.book.orders) == 1


def test_a_5xx_before_acceptance_is_looked_up_not_found_then_sent_once_more(
    double: ExchangeDouble,
) -> None:
    om = manager_for(venue_for(double), double)
    double.faults.server_error_next = 1  # the submit never reached the book
    order = om.submit("BTCUSDT", Side.BUY, 0.004)
    assert order.status is OrderStatus.FILLED
    assert double.requests["POST /fapi/v1/order"] == 2  # same client id both times
    assert len(double.book.orders) == 1 and double.book.duplicate_attempts == 0


def test_a_client_order_id_sent_again_is_never_a_second_order(double: ExchangeDouble) -> None:
    om = manager_for(venue_for(double), double)
    first = om.submit("BTCUSDT", Side.BUY, 0.005, client_order_id="intent-7")
    assert om.submit("BTCUSDT", Side.BUY, 0.005, client_order_id="intent-7") is first
    # a second process (a restart that lost the answer) sends the same intent to the venue
    again = venue_for(double).submit(
        Order("intent-7", "BTCUSDT", Side.BUY, OrderType.MARKET, 0.005, 1_700_000_000_000)
    )
    assert again.status is OrderStatus.FILLED and again.filled_quantity == 0.005
    assert double.book.duplicate_attempts == 1  # the venue refused it (-4116) ...
    assert [o.client_order_id for o in double.book.orders.values()] == ["intent-7"]  # ... once


def test_a_refused_order_is_rejected_with_the_venues_reason(double: ExchangeDouble) -> None:
    om = manager_for(venue_for(double), double)
    double.faults.reject_next = 1
    order = om.submit("BTCUSDT", Side.BUY, 0.003)
    assert order.status is OrderStatus.REJECTED and "Margin is insufficient" in order.reason
    assert double.requests["GET /fapi/v1/order"] == 0 and not double.book.orders
