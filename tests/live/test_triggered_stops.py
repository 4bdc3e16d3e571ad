"""Issue 23: a protective stop that fires on the venue. The exchange double triggers conditional
orders when its price reaches them (``tests/exchange_double/conditional.py``), and the engine
must see the stopped-out position flat, with the stop's fill booked once, whether the poll or
the scheduled reconciliation hears of it first."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from quantum_trader.domain.orders import OrderStatus, Side
from tests.exchange_double import ExchangeDouble
from tests.live.test_adopted_stops import NewRun, _crashed_before_its_stop, _hand_over, _stops

ENTRY = 50_000.0  # the double's mark when the crashed run bought
STOP = 49_000.0  # the stop-loss of the decision that opened the long
FALL = 48_900.0  # where the mark falls to: through the stop


def _stopped_out(double: ExchangeDouble, tmp_path: Path) -> NewRun:
    """An adopted 0.004 BTC long gets the decision's stop at the handover; the mark then falls
    through it and the venue closes the long."""
    db_url = f"sqlite:///{tmp_path / 'crashed.sqlite'}"
    _crashed_before_its_stop(double, db_url)
    run = _hand_over(double, risk_pct=0.06, db_url=db_url)
    (stop,) = _stops(double)
    assert stop.stop_price == STOP and run.orders.get(stop.client_order_id) is not None
    # a minute after the handover (the double's clock is the wall clock; the run's started a
    # second ahead of it)
    double.book.set_mark("BTCUSDT", FALL, run.clock.now() + 60_000)
    assert double.book.positions["BTCUSDT"].amount == 0.0
    return run


def _reconcile_later(run: NewRun) -> None:
    run.clock.advance_to(run.clock.now() + 3_600_000)
    run.scheduler.run_due(run.clock.now())


def _assert_booked_flat(double: ExchangeDouble, run: NewRun) -> None:
    (stop,) = _stops(double)
    journalled = run.orders.get(stop.client_order_id)
    assert journalled is not None and journalled.status is OrderStatus.FILLED
    assert journalled.filled_quantity == pytest.approx(0.004)
    assert journalled.average_price == pytest.approx(FALL)
    portfolio = run.wiring.holder[0].portfolio
    assert portfolio.quantity("BTCUSDT") == 0.0
    # the venue's wallet and the book's agree: the stop's loss and fee booked once
    (trade,) = [t for t in double.book.trades if t.order_id == stop.actual_order_id]
    assert trade.realized == pytest.approx(0.004 * (FALL - ENTRY))
    assert portfolio.wallet_balance == pytest.approx(double.book.wallet, abs=1e-6)
    # one round trip, closed by the stop at the venue's price, with the venue's fee
    (closed,) = [t for t in portfolio.pending_trades if t.symbol == "BTCUSDT"]
    assert (closed.side, closed.exit_reason, closed.exit_price) == (Side.BUY, "stop_loss", FALL)
    assert closed.pnl == pytest.approx(trade.realized)
    assert closed.fees == pytest.approx(trade.fee)
    assert not run.switch.engaged
    assert run.orders.snapshot()["fill_ids"].count(f"{stop.client_order_id}#{trade.trade_id}") == 1


def test_a_stop_heard_of_by_reconciliation_books_the_long_closed(
    double: ExchangeDouble, tmp_path: Path
) -> None:
    run = _stopped_out(double, tmp_path)
    _reconcile_later(run)
    _assert_booked_flat(double, run)


def test_a_stop_heard_of_by_the_poll_is_not_booked_again_by_reconciliation(
    double: ExchangeDouble, tmp_path: Path
) -> None:
    run = _stopped_out(double, tmp_path)
    live = run.wiring.holder[0].live
    assert live is not None
    live.poll()
    assert run.wiring.holder[0].portfolio.quantity("BTCUSDT") == 0.0
    with structlog.testing.capture_logs() as logs:
        _reconcile_later(run)
    assert [e for e in logs if e["event"] == "venue.reconcile"] == []  # nothing to adopt
    _assert_booked_flat(double, run)
    assert run.orders.duplicate_fills == 0


def test_a_stopped_out_position_gets_no_new_stop(double: ExchangeDouble, tmp_path: Path) -> None:
    """Reconciliations after the stop adopt its fill; the position it moved is flat, so nothing
    is protected again, and nothing halts."""
    run = _stopped_out(double, tmp_path)
    _reconcile_later(run)
    _reconcile_later(run)
    assert len(double.book.algo_orders) == 1 and not double.book.open_algo_orders(None)
    assert run.status.status.counters["adopted_stop_placed"] == 1
    assert "adopted_naked" not in run.status.status.counters
    assert not run.switch.engaged
