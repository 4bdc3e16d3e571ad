"""Issue 23: a close-all order (``closePosition=true``, no quantity of its own) that a person set
on the venue is read with the size of the position it closes (``ccxt_conditional``), counts as
the position's stop (``protective_stops.covering_stops``), and is not a foreign order that halts
trading (``reconciliation_checks``). The double takes such orders on the algo-order API and
triggers them on the whole position (``tests/exchange_double/conditional.py``)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from quantum_trader.domain.errors import DataError
from quantum_trader.domain.orders import OrderStatus, OrderType, Side
from quantum_trader.execution.ccxt_mapping import (
    closes_position,
    is_take_profit_market,
    order_from_ccxt,
)
from tests.exchange_double import ExchangeDouble
from tests.live.test_adopted_stops import _by_hand, _hand_over, _stops


def _now() -> int:
    return int(time.time() * 1000)


def _post_close_all(
    double: ExchangeDouble, type: str, side: str, trigger: float, cid: str, **extra: str
) -> tuple[int, Any]:
    """``POST /fapi/v1/algoOrder`` with ``closePosition=true``, as a person's tool sends it."""
    params = {
        "algoType": "CONDITIONAL",
        "symbol": "ETHUSDT",
        "side": side,
        "type": type,
        "triggerPrice": str(trigger),
        "closePosition": "true",
        "clientAlgoId": cid,
        **extra,
    }
    status, body, _ = double.answer("POST", "/fapi/v1/algoOrder", params)
    return status, body


def _close_all(double: ExchangeDouble, type: str, side: str, trigger: float, cid: str) -> None:
    status, body = _post_close_all(double, type, side, trigger, cid)
    assert status == 200, body


def _held(double: ExchangeDouble) -> float:
    return double.book.positions["ETHUSDT"].amount


def test_the_double_takes_a_close_all_stop_and_closes_the_whole_position_with_it(
    double: ExchangeDouble,
) -> None:
    _by_hand(double, "ETHUSDT", "BUY", 0.05, "hand-entry-1")
    status, body = _post_close_all(double, "STOP_MARKET", "SELL", 2_900.0, "web-sl", quantity="1")
    assert (status, body["code"]) == (400, -4137)  # a quantity with closePosition: refused
    _close_all(double, "STOP_MARKET", "SELL", 2_900.0, "web-sl")
    status, shown, _ = double.answer("GET", "/fapi/v1/openAlgoOrders", {"symbol": "ETHUSDT"})
    (listed,) = shown
    assert (listed["quantity"], listed["closePosition"], listed["reduceOnly"]) == ("0", True, True)
    _by_hand(double, "ETHUSDT", "BUY", 0.02, "hand-entry-2")  # the position grows after it
    double.book.set_mark("ETHUSDT", 2_899.0)
    assert _held(double) == 0.0  # all of it: 0.07, the size when it triggered
    stop = double.book.find_algo(client_algo_id="web-sl")
    actual = double.book.actual_order(stop)
    assert actual is not None and actual.filled == pytest.approx(0.07)
    # a close-all take-profit with nothing left on its side ends without an order
    _close_all(double, "TAKE_PROFIT_MARKET", "SELL", 3_000.0, "web-tp")
    double.book.set_mark("ETHUSDT", 3_001.0)
    tp = double.book.find_algo(client_algo_id="web-tp")
    assert (tp.status, tp.actual_order_id) == ("EXPIRED", 0)


def test_a_close_all_order_without_its_position_is_not_mapped() -> None:
    raw = {
        "clientOrderId": "web-sl",
        "type": "stop_market",
        "side": "sell",
        "amount": 0.0,
        "stopPrice": 2_900.0,
        "info": {"symbol": "ETHUSDT", "closePosition": True, "status": "NEW"},
    }
    with pytest.raises(DataError, match="closePosition has no quantity of its own"):
        order_from_ccxt(raw)
    mapped = order_from_ccxt({**raw, "amount": 0.05})
    assert (mapped.quantity, mapped.reduce_only, mapped.order_type) == (
        0.05,
        True,
        OrderType.STOP_MARKET,
    )
    assert closes_position(mapped) and not is_take_profit_market(mapped)


def test_a_hand_placed_close_all_stop_is_read_kept_and_not_foreign(
    double: ExchangeDouble,
) -> None:
    _by_hand(double, "ETHUSDT", "BUY", 0.05, "hand-entry-3")
    _close_all(double, "STOP_MARKET", "SELL", 2_900.0, "web-close-1")
    run = _hand_over(double, risk_pct=0.02)
    live = run.wiring.holder[0].live
    assert live is not None
    (read,) = [o for o in live.remote.open_orders() if o.client_order_id == "web-close-1"]
    assert (read.symbol, read.side, read.stop_price, read.reduce_only) == (
        "ETHUSDT",
        Side.SELL,
        2_900.0,
        True,
    )
    assert read.quantity == pytest.approx(0.05) and closes_position(read)  # the position's size
    assert [o.client_order_id for o in _stops(double)] == ["web-close-1"]  # no second stop
    counters = run.status.status.counters
    assert counters["adopted_stop_kept"] == 1 and "adopted_stop_placed" not in counters
    assert not run.switch.engaged  # not a foreign order that halts
    run.clock.advance_to(run.clock.now() + 3_600_000)
    run.scheduler.run_due(run.clock.now())  # the scheduled reconciliation: still clean
    assert not run.switch.engaged and len(_stops(double)) == 1


def test_a_foreign_order_with_a_quantity_still_halts(double: ExchangeDouble) -> None:
    """The exception is for close-all orders only: a hand-placed stop with a quantity of its
    own is foreign as before (the check above can fail)."""
    _by_hand(double, "ETHUSDT", "BUY", 0.05, "hand-entry-4")
    with double.book.lock:
        double.book.create(
            symbol="ETHUSDT",
            side="SELL",
            type="STOP_MARKET",
            quantity=0.05,
            price=0.0,
            reduce_only=True,
            client_order_id="web-sized-stop",
            now_ms=_now(),
            stop_price=2_900.0,
            algo=True,
        )
    run = _hand_over(double, risk_pct=0.02)
    assert run.switch.engaged


def test_a_close_all_take_profit_is_not_taken_for_a_stop(double: ExchangeDouble) -> None:
    """A hand-placed close-all ``TAKE_PROFIT_MARKET`` above the long's price protects nothing
    against a fall: the position still gets the policy's stop, and nothing halts."""
    _by_hand(double, "ETHUSDT", "BUY", 0.05, "hand-entry-5")
    _close_all(double, "TAKE_PROFIT_MARKET", "SELL", 3_200.0, "web-tp-1")
    run = _hand_over(double, risk_pct=0.02)
    placed = [o for o in _stops(double) if o.type == "STOP_MARKET"]
    (stop,) = placed
    assert (stop.side, stop.stop_price) == ("SELL", 2_940.0)
    assert stop.quantity == pytest.approx(0.05)
    assert run.status.status.counters["adopted_stop_placed"] == 1
    assert not run.switch.engaged


def test_a_close_all_stop_that_fires_is_booked_by_the_poll(double: ExchangeDouble) -> None:
    _by_hand(double, "ETHUSDT", "BUY", 0.05, "hand-entry-6")
    _close_all(double, "STOP_MARKET", "SELL", 2_900.0, "web-close-2")
    run = _hand_over(double, risk_pct=0.02)
    live, portfolio = run.wiring.holder[0].live, run.wiring.holder[0].portfolio
    assert live is not None
    double.book.set_mark("ETHUSDT", 2_890.0, run.clock.now() + 60_000)
    assert _held(double) == 0.0
    live.poll()
    assert portfolio.quantity("ETHUSDT") == 0.0
    booked = run.orders.get("web-close-2")
    assert booked is not None and booked.status is OrderStatus.FILLED
    (closed,) = [t for t in portfolio.pending_trades if t.symbol == "ETHUSDT"]
    assert closed.exit_price == 2_890.0
    run.clock.advance_to(run.clock.now() + 3_600_000)
    run.scheduler.run_due(run.clock.now())
    assert not run.switch.engaged
    assert portfolio.wallet_balance == pytest.approx(double.book.wallet, abs=1e-6)


def test_a_close_all_stop_read_before_the_position_grew_closes_all_of_it(
    double: ExchangeDouble,
) -> None:
    """Read at 0.05, the stop finds 0.07 when it fires (the engine bought 0.02 more): the poll
    books the whole close, where an ordinary order's fill past its quantity is an error."""
    _by_hand(double, "ETHUSDT", "BUY", 0.05, "hand-entry-7")
    _close_all(double, "STOP_MARKET", "SELL", 2_900.0, "web-close-3")
    run = _hand_over(double, risk_pct=0.02)
    live, portfolio = run.wiring.holder[0].live, run.wiring.holder[0].portfolio
    assert live is not None
    more = run.orders.submit("ETHUSDT", Side.BUY, 0.02, OrderType.MARKET, tag="entry")
    assert more.status is OrderStatus.FILLED and _held(double) == pytest.approx(0.07)
    double.book.set_mark("ETHUSDT", 2_890.0, run.clock.now() + 60_000)
    live.poll()
    assert _held(double) == 0.0 and portfolio.quantity("ETHUSDT") == 0.0
    booked = run.orders.get("web-close-3")
    assert booked is not None and booked.status is OrderStatus.FILLED
    assert booked.filled_quantity == pytest.approx(0.07)
    run.clock.advance_to(run.clock.now() + 3_600_000)
    run.scheduler.run_due(run.clock.now())
    assert not run.switch.engaged


def test_a_close_all_stop_that_fires_before_a_poll_is_adopted_by_reconciliation(
    double: ExchangeDouble,
) -> None:
    """Reconciliation meets the trade first: the fill of a close-all order the venue listed
    is adopted (the book goes flat), not halted on as a foreign order's."""
    _by_hand(double, "ETHUSDT", "BUY", 0.05, "hand-entry-8")
    _close_all(double, "STOP_MARKET", "SELL", 2_900.0, "web-close-4")
    run = _hand_over(double, risk_pct=0.02)
    portfolio = run.wiring.holder[0].portfolio
    double.book.set_mark("ETHUSDT", 2_890.0, run.clock.now() + 60_000)
    run.clock.advance_to(run.clock.now() + 3_600_000)
    run.scheduler.run_due(run.clock.now())  # before any poll
    assert not run.switch.engaged
    assert portfolio.quantity("ETHUSDT") == 0.0
    assert portfolio.wallet_balance == pytest.approx(double.book.wallet, abs=1e-6)
    booked = run.orders.get("web-close-4")
    assert booked is not None and booked.status is OrderStatus.FILLED
