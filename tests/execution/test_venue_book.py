"""A real venue as the session's venue (``execution/venue_book.py``) and the handover from the
replay's paper account to it (``execution/handover.py``), against an in-memory venue that
fills when polled, as a real one reports fills when asked."""

from __future__ import annotations

from dataclasses import replace

import pytest

from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType, Side
from quantum_trader.domain.positions import Position
from quantum_trader.domain.time import MS_PER_DAY
from quantum_trader.execution.handover import HANDOVER_EXIT, PaperThenVenue
from quantum_trader.execution.instruments import BINANCE_USDM
from quantum_trader.execution.order_manager import Bracket, OrderManager
from quantum_trader.execution.venue import ExecutionListener, VenueFunding
from quantum_trader.execution.venue_book import NotionalCaps, VenueBook

from .helpers import HOUR, Desk, make_desk


class PolledVenue:
    """Accepts orders as NEW and fills market orders at ``price`` when polled (fee 0.05 %)."""

    def __init__(self, balance: float = 5_000.0) -> None:
        self.price = 100.0
        self.orders: dict[str, Order] = {}
        self.submits = 0
        self.held: dict[str, Position] = {}
        self.wallet = balance
        self._listener: ExecutionListener | None = None

    def set_listener(self, listener: ExecutionListener) -> None:
        self._listener = listener

    def set_leverage(self, symbol: str, leverage: float) -> None:
        return None

    def submit(self, order: Order, good_till: int | None = None) -> Order:
        self.submits += 1
        self.orders[order.client_order_id] = order
        return order

    def cancel(self, client_order_id: str) -> Order:
        order = self.orders[client_order_id]
        self.orders[client_order_id] = order.transition(OrderStatus.CANCELED, 0, "client")
        return self.orders[client_order_id]

    def fetch_order(self, client_order_id: str) -> Order | None:
        return self.orders.get(client_order_id)

    def poll(self) -> list[Order]:
        out = []
        for cid, order in list(self.orders.items()):
            if order.status.is_terminal or order.order_type is not OrderType.MARKET:
                continue
            filled = order.apply_fill(order.quantity, self.price, 1)
            self.orders[cid] = filled
            fee = order.quantity * self.price * 0.0005
            fill = Fill(
                f"{cid}@{order.quantity}",
                cid,
                order.symbol,
                order.side,
                order.quantity,
                self.price,
                fee,
                1,
            )
            assert self._listener is not None
            self._listener.on_fill(fill, filled)
            out.append(filled)
        return out

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if not o.status.is_terminal]

    def funding_since(self, since_ms: int) -> list[VenueFunding]:
        return []  # no funding settles here

    def recent_fills(self, since_ms: int) -> list[Fill]:
        return []

    def positions(self) -> dict[str, Position]:
        return dict(self.held)

    def balance(self) -> float:
        return self.wallet


def _book(desk: Desk, remote: PolledVenue, caps: NotionalCaps | None = None) -> OrderManager:
    book = VenueBook(remote, desk.portfolio, BINANCE_USDM, desk.clock, caps)
    desk.exchange = book  # type: ignore[assignment]  # the desk's bar() drives the venue
    orders = OrderManager(
        book, BINANCE_USDM, desk.clock, desk.bus, "live", mark=desk.portfolio.mark_price
    )
    desk.orders = orders
    return orders


def test_venue_fills_reach_the_book_once_when_the_candle_polls() -> None:
    desk, remote = make_desk(balance=10_000.0), PolledVenue()
    orders = _book(desk, remote)
    desk.bar("BTCUSDT", 0, 100, 101, 99, 100)
    order = orders.submit("BTCUSDT", Side.BUY, 1.0)
    assert order.status is OrderStatus.NEW and desk.portfolio.quantity("BTCUSDT") == 0
    remote.price = 101.0
    desk.bar("BTCUSDT", HOUR, 100, 102, 99, 101)  # the candle's close polls the venue
    assert desk.portfolio.quantity("BTCUSDT") == pytest.approx(1.0)
    assert desk.portfolio.position("BTCUSDT").entry_price == pytest.approx(101.0)
    assert desk.portfolio.fees_paid == pytest.approx(101.0 * 0.0005)
    assert orders.fills == 1 and orders.get(order.client_order_id).status is OrderStatus.FILLED
    # the same fill reported again (a second poll, a reconnect) changes nothing
    fill = orders.fill_log[0]
    desk.exchange.on_fill(fill, orders.get(order.client_order_id))  # type: ignore[union-attr]
    assert desk.portfolio.quantity("BTCUSDT") == pytest.approx(1.0) and orders.fills == 1


def test_notional_caps_refuse_per_order_and_per_day_and_reset_the_next_day() -> None:
    desk, remote = make_desk(balance=10_000.0), PolledVenue()
    orders = _book(desk, remote, NotionalCaps(per_order=500.0, per_day=800.0))
    desk.bar("BTCUSDT", 0, 100, 101, 99, 100)
    too_big = orders.submit("BTCUSDT", Side.BUY, 6.0)  # 600 USDT
    assert too_big.status is OrderStatus.REJECTED and "cap per order" in too_big.reason
    assert orders.submit("BTCUSDT", Side.BUY, 4.0).status is OrderStatus.NEW  # 400
    over_day = orders.submit("BTCUSDT", Side.BUY, 4.5)  # 400 + 450 > 800
    assert over_day.status is OrderStatus.REJECTED and "cap per day" in over_day.reason
    assert remote.submits == 1  # nothing refused reached the venue
    exit_order = orders.submit("BTCUSDT", Side.SELL, 6.0, reduce_only=True)
    assert exit_order.status is OrderStatus.NEW  # an exit is never capped
    desk.clock.advance_to(MS_PER_DAY + HOUR)
    assert orders.submit("BTCUSDT", Side.BUY, 4.5).status is OrderStatus.NEW  # a new day


def test_handover_closes_the_paper_book_and_adopts_the_venue_account() -> None:
    desk = make_desk(balance=10_000.0)
    remote = PolledVenue(balance=5_000.0)
    remote.held["ETHUSDT"] = Position("ETHUSDT", -2.0, 2_000.0, 3.0)
    book_holder: list[VenueBook] = []

    def build_live() -> VenueBook:
        book_holder.append(VenueBook(remote, desk.portfolio, BINANCE_USDM, desk.clock))
        return book_holder[0]

    venue = PaperThenVenue(desk.exchange, desk.portfolio, build_live)
    orders = OrderManager(
        venue, BINANCE_USDM, desk.clock, desk.bus, "run", mark=desk.portfolio.mark_price
    )
    desk.orders = orders
    desk.bar("BTCUSDT", 0, 100, 101, 99, 100)
    orders.submit("BTCUSDT", Side.BUY, 2.0, bracket=Bracket(stop_loss=90.0))
    desk.bar("BTCUSDT", HOUR, 100, 101, 99, 100)  # paper: filled at the open, stop resting
    assert desk.portfolio.quantity("BTCUSDT") == pytest.approx(2.0)
    assert len(desk.exchange.open_orders()) == 1
    submits_before = remote.submits

    report = venue.go_live(desk.clock.now())

    assert report.paper_orders_cancelled == 1 and report.paper_positions_closed == ["BTCUSDT"]
    assert remote.submits == submits_before  # nothing of the paper's was sent to the venue
    assert desk.portfolio.quantity("BTCUSDT") == 0.0
    assert desk.portfolio.pending_trades[-1].exit_reason == HANDOVER_EXIT
    assert desk.portfolio.wallet_balance == pytest.approx(5_000.0)
    assert desk.portfolio.quantity("ETHUSDT") == pytest.approx(-2.0)  # never assume flat
    assert desk.portfolio.position("ETHUSDT").entry_price == pytest.approx(2_000.0)
    assert report.adopted == {"ETHUSDT": -2.0}
    # from here orders go to the venue, and its fills reach the same book
    order = orders.submit("BTCUSDT", Side.BUY, 1.0)
    assert remote.submits == submits_before + 1 and order.status is OrderStatus.NEW
    venue.on_bar("BTCUSDT", 2 * HOUR, 3 * HOUR, 100, 101, 99, 100, 1.0)
    assert desk.portfolio.quantity("BTCUSDT") == pytest.approx(1.0)
    assert orders.fills == 2  # the paper entry and the venue's
    with pytest.raises(RuntimeError, match="already"):
        venue.go_live(desk.clock.now())


def test_caps_describe_themselves_for_the_startup_line() -> None:
    assert NotionalCaps(per_order=100.0).describe() == "caps: per order 100.00 USDT, per day none"
    assert replace(NotionalCaps(), per_day=1.5).describe().endswith("per day 1.50 USDT")


def test_the_kill_switch_cancels_open_entries_at_the_next_candle_and_keeps_exits() -> None:
    desk, remote = make_desk(balance=10_000.0), PolledVenue()
    engaged = [False]
    book = VenueBook(
        remote, desk.portfolio, BINANCE_USDM, desk.clock, kill_switch_engaged=lambda: engaged[0]
    )
    desk.exchange = book  # type: ignore[assignment]
    orders = OrderManager(
        book, BINANCE_USDM, desk.clock, desk.bus, "live", mark=desk.portfolio.mark_price
    )
    desk.bar("BTCUSDT", 0, 100, 101, 99, 100)
    entry = orders.submit("BTCUSDT", Side.BUY, 2.0, OrderType.LIMIT, price=90.0)
    stop = orders.submit(
        "BTCUSDT", Side.SELL, 1.0, OrderType.STOP_MARKET, stop_price=80.0, reduce_only=True
    )
    # the long the stop protects (held on the venue: an exit without one would be cancelled
    # as an orphan, ``VenueBook.cancel_orphan_exits``, whatever the kill switch)
    remote.held["BTCUSDT"] = Position("BTCUSDT", 1.0, 100.0)
    desk.bar("BTCUSDT", HOUR, 100, 101, 99, 100)
    assert orders.get(entry.client_order_id).status is OrderStatus.NEW  # nothing engaged yet
    engaged[0] = True
    desk.bar("BTCUSDT", 2 * HOUR, 100, 101, 99, 100)
    assert orders.get(entry.client_order_id).status is OrderStatus.CANCELED
    assert remote.orders[entry.client_order_id].status is OrderStatus.CANCELED  # on the venue
    assert orders.get(stop.client_order_id).status is OrderStatus.NEW  # the exit stays
    assert book.cancelled_by_kill_switch == 1


def test_an_orphan_exit_whose_cancel_fails_is_followed_and_cancelled_at_the_next_poll() -> None:
    """A reduce-only exit with no position, in the book or on the venue, is cancelled at the
    poll; a cancel the venue refuses is counted and tried again at the next poll."""
    desk, remote = make_desk(balance=10_000.0), PolledVenue()
    orders = _book(desk, remote)
    book = desk.exchange
    assert isinstance(book, VenueBook)
    desk.bar("BTCUSDT", 0, 100, 101, 99, 100)
    exit_ = orders.submit("BTCUSDT", Side.SELL, 1.0, OrderType.LIMIT, price=120.0, reduce_only=True)
    refuse = [True]
    cancel = remote.cancel

    def flaky(client_order_id: str) -> Order:
        if refuse:  # the first cancel only
            refuse.pop()
            raise RuntimeError("venue busy")
        return cancel(client_order_id)

    remote.cancel = flaky  # type: ignore[method-assign]
    desk.bar("BTCUSDT", HOUR, 100, 101, 99, 100)
    assert (book.orphan_exit_failures, book.orphan_exits_cancelled) == (1, 0)
    assert orders.get(exit_.client_order_id).status is OrderStatus.NEW
    desk.bar("BTCUSDT", 2 * HOUR, 100, 101, 99, 100)
    assert (book.orphan_exit_failures, book.orphan_exits_cancelled) == (1, 1)
    assert orders.get(exit_.client_order_id).status is OrderStatus.CANCELED
    assert remote.orders[exit_.client_order_id].status is OrderStatus.CANCELED
