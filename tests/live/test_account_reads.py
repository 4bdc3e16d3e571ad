"""What reconciliation reads from the venue, after a restart: open orders this session never
submitted, an order looked up by client id and symbol, recent fills with stable ids, positions
and balance; and a venue clock that runs ahead of the machine's."""

from __future__ import annotations

import pytest

from quantum_trader.domain.orders import OrderStatus, OrderType, Side
from tests.exchange_double import ExchangeDouble
from tests.exchange_double.book import TAKER_FEE
from tests.live.conftest import manager_for, venue_for


def test_a_restarted_venue_sees_orders_and_fills_it_never_submitted(double: ExchangeDouble) -> None:
    before = manager_for(venue_for(double), double, run_id="run1")
    resting = before.submit("BTCUSDT", Side.BUY, 0.004, OrderType.LIMIT, price=45_000.0)
    filled = before.submit("ETHUSDT", Side.BUY, 0.1)
    first_ids = [f.fill_id for f in before.fill_log]
    # a new process: nothing in memory
    venue = venue_for(double)
    opened = venue.open_orders()
    assert [(o.client_order_id, o.status, o.price) for o in opened] == [
        (resting.client_order_id, OrderStatus.NEW, 45_000.0)
    ]
    assert [f.fill_id for f in venue.recent_fills(0)] == first_ids  # same ids as polling gave
    assert venue.recent_fills(10**13) == []
    looked_up = venue.fetch_order(filled.client_order_id, "ETHUSDT")
    assert looked_up is not None and looked_up.status is OrderStatus.FILLED
    assert looked_up.filled_quantity == pytest.approx(0.1)
    assert venue.fetch_order("never-sent", "ETHUSDT") is None
    # the adopted open order is followed by poll from now on
    om = manager_for(venue, double, run_id="run2")
    double.book.set_mark("BTCUSDT", 44_000.0)
    venue.poll()
    assert [(f.client_order_id, f.quantity) for f in om.fill_log] == [
        (resting.client_order_id, 0.004)
    ]
    positions = venue.positions()
    assert positions["BTCUSDT"].quantity == pytest.approx(0.004)
    assert positions["ETHUSDT"].quantity == pytest.approx(0.1)
    # the wallet balance, without the positions' unrealised PnL (as the book keeps it)
    assert double.book.unrealized("BTCUSDT") != 0.0
    assert venue.balance() == pytest.approx(double.book.wallet)
    assert double.book.wallet < 10_000.0 - 0.1 * 3_000 * TAKER_FEE + 1e-9


def test_a_venue_clock_ahead_of_the_machine_is_learned_at_load(double: ExchangeDouble) -> None:
    double.faults.clock_skew_ms = 45_000  # past the 10 s recvWindow ccxt sends
    om = manager_for(venue_for(double), double)
    assert om.submit("BTCUSDT", Side.BUY, 0.003).status is OrderStatus.FILLED
    venue = venue_for(double)
    venue.client.options["timeDifference"] = 0  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="-1021"):  # a client that ignores the offset is refused
        venue.balance()
