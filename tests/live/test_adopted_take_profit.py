"""Issue 23: an adopted position whose lineage decision asked for a take-profit gets it on the
venue too (``execution/protective_stops.py``): a reduce-only limit, as a bracket sends one, kept
across handovers, and booked when it fills. The crashed run (``test_adopted_stops.py``) bought
0.004 BTC at 50,000 with a stop-loss at 49,000 and a take-profit at 51,000."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quantum_trader.domain.orders import OrderStatus
from quantum_trader.execution.venue_book import VenueBook
from quantum_trader.portfolio.portfolio import Portfolio
from tests.exchange_double import ExchangeDouble
from tests.exchange_double.book import VenueOrder
from tests.live.test_adopted_stops import _crashed_before_its_stop, _hand_over, _stops

TARGET = 51_000.0


def _targets(double: ExchangeDouble) -> list[VenueOrder]:
    return [o for o in double.book.orders.values() if o.type == "LIMIT"]


def _handed_over(double: ExchangeDouble, tmp_path: Path) -> tuple[Any, VenueBook, Portfolio]:
    """The crashed run's long handed over to a new run: the run, its venue book, its book."""
    db_url = f"sqlite:///{tmp_path / 'crashed.sqlite'}"
    _crashed_before_its_stop(double, db_url)
    run = _hand_over(double, risk_pct=0.06, db_url=db_url)
    live = run.wiring.holder[0].live
    assert live is not None
    return run, live, run.wiring.holder[0].portfolio


def test_three_handovers_leave_one_stop_and_one_take_profit(
    double: ExchangeDouble, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'crashed.sqlite'}"
    _crashed_before_its_stop(double, db_url)
    runs = [_hand_over(double, risk_pct=0.06, db_url=db_url) for _ in range(3)]
    assert len(double.book.open_algo_orders(None)) == 1
    (target,) = _targets(double)
    assert target.status == "NEW" and target.price == TARGET
    assert double.requests["POST /fapi/v1/algoOrder"] == 1
    assert double.requests["POST /fapi/v1/order"] == 2  # the crashed entry, the take-profit
    counters = [r.status.status.counters for r in runs]
    assert counters[0]["adopted_take_profit_placed"] == 1
    for again in counters[1:]:
        assert again["adopted_take_profit_kept"] == 1 and again["adopted_stop_kept"] == 1
        assert "adopted_take_profit_placed" not in again
    assert not any(r.switch.engaged for r in runs)  # the lineage's orders: adopted, not foreign


def test_a_take_profit_the_mark_has_passed_is_not_placed(
    double: ExchangeDouble, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'crashed.sqlite'}"
    _crashed_before_its_stop(double, db_url)
    run = _hand_over(double, risk_pct=0.06, db_url=db_url, marks={"BTCUSDT": 51_500.0})
    assert not _targets(double) and len(_stops(double)) == 1  # the stop still goes on
    assert run.status.status.counters["adopted_take_profit_naked"] == 1
    assert run.status.status.counters["adopted_stop_placed"] == 1


def test_the_take_profit_fills_and_the_poll_cancels_the_stop_left_without_a_position(
    double: ExchangeDouble, tmp_path: Path
) -> None:
    """The mark rises through the take-profit: the long closes at 51,000 (maker) and the poll
    books it. The stop can no longer protect anything; left working it would cut a later long,
    so the same poll cancels it (``VenueBook.cancel_orphan_exits``): when the mark later falls
    through 49,000 nothing happens, and the book stays flat and equal to the venue."""
    run, live, portfolio = _handed_over(double, tmp_path)
    (target,) = _targets(double)
    (stop,) = _stops(double)
    double.book.set_mark("BTCUSDT", 51_200.0, run.clock.now() + 60_000)
    assert target.status == "FILLED" and double.book.positions["BTCUSDT"].amount == 0.0
    assert stop.status == "NEW"  # the double, like a venue that does not, leaves it working
    live.poll()
    booked = run.orders.get(target.client_order_id)
    assert booked is not None and booked.status is OrderStatus.FILLED
    assert portfolio.quantity("BTCUSDT") == 0.0
    (closed,) = [t for t in portfolio.pending_trades if t.symbol == "BTCUSDT"]
    assert (closed.exit_price, closed.exit_reason) == (TARGET, "take_profit")
    assert closed.pnl == pytest.approx(0.004 * (TARGET - 50_000.0))
    assert stop.status == "CANCELED" and live.orphan_exits_cancelled == 1
    ended = run.orders.get(stop.client_order_id)
    assert ended is not None and ended.status is OrderStatus.CANCELED
    trades_before = len(double.book.trades)
    double.book.set_mark("BTCUSDT", 48_000.0, run.clock.now() + 120_000)
    assert len(double.book.trades) == trades_before and stop.actual_order_id == 0
    live.poll()
    assert live.orphan_exits_cancelled == 1  # nothing left to cancel
    run.clock.advance_to(run.clock.now() + 3_600_000)
    run.scheduler.run_due(run.clock.now())
    assert portfolio.quantity("BTCUSDT") == 0.0 and not run.switch.engaged
    assert portfolio.wallet_balance == pytest.approx(double.book.wallet, abs=1e-6)


def test_an_exit_of_a_position_the_book_has_not_adopted_yet_is_kept(
    double: ExchangeDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flat in the book is not enough: the venue's position is read first, so an exit that
    protects a position the book does not hold (yet) is never cancelled."""
    _run, live, _portfolio = _handed_over(double, tmp_path)
    (stop,) = _stops(double)
    # the book reads flat (as before reconciliation adopts); the venue still holds the long
    monkeypatch.setattr(live, "_flat", lambda symbol: True)
    live.poll()
    assert stop.status == "NEW" and live.orphan_exits_cancelled == 0
    assert double.book.positions["BTCUSDT"].amount == pytest.approx(0.004)
    # the same poll with the venue flat too cancels it: the check above can fail
    monkeypatch.setattr(live.remote, "positions", lambda: {})
    live.poll()
    (target,) = _targets(double)
    assert (stop.status, target.status) == ("CANCELED", "CANCELED")
    assert live.orphan_exits_cancelled == 2


def test_an_exit_the_venue_stamps_before_the_adoption_is_booked_at_the_adoption(
    double: ExchangeDouble, tmp_path: Path
) -> None:
    """The venue's clock runs behind the engine's: the take-profit fills at a venue time
    before the handover adopted the long. Posted as stamped, the trade would close before it
    opened (the book refuses that, and the session stopped); it is booked at the adoption."""
    _run, live, portfolio = _handed_over(double, tmp_path)
    opened = portfolio.position("BTCUSDT").opened_at
    (target,) = _targets(double)
    double.book.set_mark("BTCUSDT", 51_200.0, opened - 30_000)  # 30 s behind the engine
    assert target.status == "FILLED"
    live.poll()
    (closed,) = [t for t in portfolio.pending_trades if t.symbol == "BTCUSDT"]
    assert (closed.exit_price, closed.exit_reason) == (TARGET, "take_profit")
    assert closed.exit_time == closed.entry_time == opened
    assert live.fills_before_entry == 1 and portfolio.quantity("BTCUSDT") == 0.0
    assert portfolio.wallet_balance == pytest.approx(double.book.wallet, abs=1e-6)
