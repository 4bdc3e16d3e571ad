"""Issue 23: a close-all order (``closePosition=true``, no quantity of its own) that a person set
on the venue is read with the size of the position it closes (``ccxt_conditional``), counts as
the position's stop (``protective_stops.covering_stops``), and is not a foreign order that halts
trading (``reconciliation_checks``). The double takes such orders on the algo-order API and
triggers them on the whole position (``tests/exchange_double/conditional.py``)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import structlog

from quantum_trader.domain.errors import DataError
from quantum_trader.domain.orders import OrderStatus, OrderType, Side
from quantum_trader.execution.ccxt_mapping import (
    closes_position,
    is_take_profit_market,
    order_from_ccxt,
)
from quantum_trader.execution.reconciliation import local_book, reconcile
from tests.exchange_double import ExchangeDouble
from tests.live.test_adopted_stops import NewRun, _by_hand, _hand_over, _stops


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


def _sized_stop(double: ExchangeDouble, cid: str, trigger: float) -> None:
    """A person's stop with a quantity of its own (0.05 ETH, reduce-only): not a close-all."""
    with double.book.lock:
        double.book.create(
            symbol="ETHUSDT",
            side="SELL",
            type="STOP_MARKET",
            quantity=0.05,
            price=0.0,
            reduce_only=True,
            client_order_id=cid,
            now_ms=_now(),
            stop_price=trigger,
            algo=True,
        )


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
    _sized_stop(double, "web-sized-stop", 2_900.0)
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


def _fired_between_listings(double: ExchangeDouble, cid: str, *, close_all: bool) -> NewRun:
    """A 0.05 ETH long adopted at the handover (the policy's stop at 2,940 placed); then a
    person sets a stop at 2,950 — close-all, or with a quantity of its own — and the price
    falls through it before any listing (reconciliation, protective-stop check) read it."""
    _by_hand(double, "ETHUSDT", "BUY", 0.05, f"entry-{cid}")
    run = _hand_over(double, risk_pct=0.02)
    if close_all:
        _close_all(double, "STOP_MARKET", "SELL", 2_950.0, cid)
    else:
        _sized_stop(double, cid, 2_950.0)
    double.book.set_mark("ETHUSDT", 2_945.0, run.clock.now() + 60_000)
    assert _held(double) == 0.0
    assert double.book.find_algo(client_algo_id=cid).status == "TRIGGERED"
    return run


def _reconcile_later(run: NewRun) -> None:
    run.clock.advance_to(run.clock.now() + 3_600_000)
    run.scheduler.run_due(run.clock.now())


def test_a_close_all_stop_set_and_fired_between_two_listings_is_adopted(
    double: ExchangeDouble,
) -> None:
    """No listing ever read the order: reconciliation meets its trade, looks the trade's order
    up on the venue by its id, finds the close-all stop it came from, and adopts the fill."""
    run = _fired_between_listings(double, "web-close-5", close_all=True)
    portfolio = run.wiring.holder[0].portfolio
    with structlog.testing.capture_logs() as logs:
        _reconcile_later(run)
    assert not run.switch.engaged
    assert portfolio.quantity("ETHUSDT") == 0.0
    assert portfolio.wallet_balance == pytest.approx(double.book.wallet, abs=1e-6)
    booked = run.orders.get("web-close-5")
    assert booked is not None and booked.status is OrderStatus.FILLED
    assert closes_position(booked) and booked.filled_quantity == pytest.approx(0.05)
    (closed,) = [t for t in portfolio.pending_trades if t.symbol == "ETHUSDT"]
    assert closed.exit_price == 2_945.0
    stop = double.book.find_algo(client_algo_id="web-close-5")
    (trade,) = [t for t in double.book.trades if t.order_id == stop.actual_order_id]
    assert closed.pnl == pytest.approx(trade.realized)
    # the ledger entry and its audit line: adopted, never halted on
    refs = [e.ref for e in portfolio.ledger.entries if e.ref.startswith("reconcile:")]
    assert "reconcile:web-close-5" in refs
    audit = [e for e in logs if e["event"] == "venue.reconcile"]
    fills = [e for e in audit if e["kind"] == "missing_fill"]
    assert [(e["subject"], e["resolution"]) for e in fills] == [
        (f"web-close-5#{trade.trade_id}", "adopted")
    ]
    assert "of the close-all order web-close-5" in fills[0]["reason"]
    assert all(e["resolution"] == "adopted" for e in audit)
    live = run.wiring.holder[0].live
    assert live is not None
    live.poll()  # the book is flat: the policy's stop, left without a position, is cancelled
    (own,) = [o for o in _stops(double) if o.client_order_id != "web-close-5"]
    assert own.status == "CANCELED"
    _reconcile_later(run)  # the next one finds nothing new, and halts on nothing
    assert not run.switch.engaged and portfolio.quantity("ETHUSDT") == 0.0


def test_a_sized_stop_set_and_fired_between_two_listings_still_halts(
    double: ExchangeDouble,
) -> None:
    """The look-up finds the stop the trade came from, but it has a quantity of its own: a
    foreign order's fill, which halts (the check above can fail)."""
    run = _fired_between_listings(double, "web-sized-2", close_all=False)
    _reconcile_later(run)
    assert run.switch.engaged
    reason = run.switch.state().reason
    assert "of a foreign order" in reason and "web-sized-2" in reason
    assert run.orders.get("web-sized-2") is None  # nothing adopted from it
    assert run.wiring.holder[0].portfolio.quantity("ETHUSDT") == pytest.approx(0.05)


def test_a_close_all_look_up_left_unanswered_adopts_nothing_and_is_read_again(
    double: ExchangeDouble,
) -> None:
    """The venue does not answer the look-up of the stop: the reconciliation stops with the
    error (nothing written, nothing halted); the next one reads the trade again and adopts."""
    run = _fired_between_listings(double, "web-close-6", close_all=True)
    live, portfolio = run.wiring.holder[0].live, run.wiring.holder[0].portfolio
    assert live is not None
    since = run.clock.now()
    double.faults.drop_next["GET /fapi/v1/algoOrder"] = 1
    with pytest.raises(TimeoutError, match="no answer"):
        reconcile(live.remote, local_book(run.orders, portfolio), since_ms=since, at=since)
    assert double.faults.drop_next["GET /fapi/v1/algoOrder"] == 0  # the look-up was asked
    assert not run.switch.engaged and run.orders.get("web-close-6") is None
    assert portfolio.quantity("ETHUSDT") == pytest.approx(0.05)
    report = reconcile(live.remote, local_book(run.orders, portfolio), since_ms=since, at=since)
    assert not report.halts
    (adopted,) = [d for d in report.adopted if d.fill is not None]
    assert adopted.fill.client_order_id == "web-close-6"
    assert adopted.order is not None and closes_position(adopted.order)


def test_a_scheduled_reconciliation_left_unanswered_is_counted_and_runs_again(
    double: ExchangeDouble,
) -> None:
    """The scheduled job meets the same silence: it logs and counts it instead of raising (a
    raise out of a job due on a candle ended the live run), and the next period adopts."""
    run = _fired_between_listings(double, "web-close-7", close_all=True)
    portfolio = run.wiring.holder[0].portfolio
    double.faults.drop_next["GET /fapi/v1/algoOrder"] = 1
    with structlog.testing.capture_logs() as logs:
        _reconcile_later(run)
    (silent,) = [e for e in logs if e["event"] == "venue.reconcile_unanswered"]
    assert "no answer" in silent["error"]
    assert run.status.status.counters["reconciliations_unanswered"] == 1
    assert not run.switch.engaged and run.orders.get("web-close-7") is None
    _reconcile_later(run)
    assert not run.switch.engaged and portfolio.quantity("ETHUSDT") == 0.0
    booked = run.orders.get("web-close-7")
    assert booked is not None and booked.status is OrderStatus.FILLED
