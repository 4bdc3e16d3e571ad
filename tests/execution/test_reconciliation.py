"""Reconciliation at start: the venue is the truth; every difference is adopted with an audit
entry or halts with the reason, none is ignored (issue 23, item 3).

The venue is an in-memory fake; the order journal, the portfolio and its ledger, and the kill
switch are the real objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType, Side
from quantum_trader.domain.positions import Position
from quantum_trader.execution.instruments import BINANCE_USDM
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.execution.reconciliation import (
    AuditEntry,
    Discrepancy,
    ReconcileConfig,
    ReconciliationReport,
    ReconcilingVenue,
    Resolution,
    apply,
    halt_by_kill_switch,
    local_book,
    reconcile,
)
from quantum_trader.execution.venue import ExecutionListener
from quantum_trader.portfolio.ledger import LedgerKind
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.risk.kill_switch import KillSwitch, KillSwitchState
from tests.execution.helpers import HOUR, make_desk

RUN = "r1"
NOW = 10 * HOUR
START_BALANCE = 10_000.0


@dataclass
class FakeVenue:
    """An account held in memory: what a venue would answer (``VenueAccount`` + lookup)."""

    orders: dict[str, Order] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    held: dict[str, Position] = field(default_factory=dict)
    wallet: float = START_BALANCE
    cancels: list[str] = field(default_factory=list)

    # the Venue port, as far as the order manager needs it
    def set_listener(self, listener: ExecutionListener) -> None:
        pass

    def set_leverage(self, symbol: str, leverage: float) -> None:
        pass

    def submit(self, order: Order, good_till: int | None = None) -> Order:
        self.orders[order.client_order_id] = order
        return order

    def cancel(self, client_order_id: str) -> Order:
        self.cancels.append(client_order_id)
        return self.orders[client_order_id]

    def fetch_order(self, client_order_id: str) -> Order | None:
        return self.orders.get(client_order_id)

    # VenueAccount
    def positions(self) -> dict[str, Position]:
        return dict(self.held)

    def balance(self) -> float:
        return self.wallet

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if not o.status.is_terminal]

    def recent_fills(self, since_ms: int) -> list[Fill]:
        return [f for f in self.fills if f.time >= since_ms]


@dataclass
class MemoryKillSwitchStore:
    states: list[KillSwitchState] = field(default_factory=list)

    def latest_kill_switch(self) -> KillSwitchState | None:
        return self.states[-1] if self.states else None

    def append_kill_switch(self, state: KillSwitchState) -> None:
        self.states.append(state)


@dataclass
class Account:
    """The venue and our side of it (journal, book, kill switch), kept in step by ``trade``."""

    venue: FakeVenue
    orders: OrderManager
    portfolio: Portfolio
    kill_switch: KillSwitch
    audit: list[AuditEntry] = field(default_factory=list)

    def run(self, config: ReconcileConfig | None = None) -> ReconciliationReport:
        book = local_book(self.orders, self.portfolio)
        return reconcile(self.venue, book, since_ms=0, at=NOW, config=config)

    def apply(self, report: ReconciliationReport) -> None:
        apply(
            report,
            journal=self.orders,
            portfolio=self.portfolio,
            halt=halt_by_kill_switch(self.kill_switch, f"reconciliation:{RUN}"),
            audit=self.audit.append,
            by=f"reconciliation:{RUN}",
        )


def _order(seq: int, symbol: str, side: Side, qty: float, price: float | None = None) -> Order:
    kind = OrderType.LIMIT if price is not None else OrderType.MARKET
    return Order(f"{RUN}-{symbol}-{seq}", symbol, side, kind, qty, HOUR, price)


def _fill(order: Order, price: float, fee: float, time: int = 2 * HOUR) -> tuple[Fill, Order]:
    fill = Fill(
        f"{order.client_order_id}-F1",
        order.client_order_id,
        order.symbol,
        order.side,
        order.remaining,
        price,
        fee,
        time,
    )
    return fill, order.apply_fill(fill.quantity, price, time)


def _venue_fills(venue: FakeVenue, order: Order, price: float, fee: float) -> Fill:
    """The venue fills ``order`` (position, wallet); our side hears nothing of it."""
    fill, done = _fill(order, price, fee)
    venue.orders[done.client_order_id] = done
    venue.fills.append(fill)
    held = venue.held.get(order.symbol, Position(order.symbol))
    qty = held.quantity + order.side.sign * fill.quantity
    assert held.quantity == 0 or (held.quantity > 0) == (qty > 0), "test fills only open or add"
    entry = price if held.quantity == 0 else held.entry_price
    venue.held[order.symbol] = Position(order.symbol, qty, entry)
    venue.wallet -= fee
    return fill


def _account() -> Account:
    """Consistent on both sides: a filled BTC buy (long 0.1) and a resting take-profit."""
    clock = SimulatedClock(NOW)
    venue = FakeVenue()
    portfolio = Portfolio(RUN)
    portfolio.deposit(START_BALANCE, 0)
    orders = OrderManager(venue, BINANCE_USDM, clock, InProcessBus(clock, "t"), RUN, lambda s: 0.0)
    account = Account(venue, orders, portfolio, KillSwitch(MemoryKillSwitchStore(), clock))
    entry = _order(1, "BTCUSDT", Side.BUY, 0.1)
    fill = _venue_fills(venue, entry, 50_000.0, 2.0)
    portfolio.apply_fill("BTCUSDT", Side.BUY, 0.1, 50_000.0, 2.0, fill.time, entry.client_order_id)
    orders.on_fill(fill, venue.orders[entry.client_order_id])
    resting = _order(2, "BTCUSDT", Side.SELL, 0.1, price=60_000.0)
    venue.orders[resting.client_order_id] = resting
    orders.on_order_update(resting)
    return account


def _kinds(report: ReconciliationReport) -> list[tuple[Discrepancy, str, Resolution]]:
    return [(d.kind, d.subject, d.resolution) for d in report.differences]


def test_a_clean_account_gives_an_empty_report() -> None:
    account = _account()
    report = account.run()
    assert report.clean, report.differences
    account.apply(report)
    assert account.audit == [] and not account.kill_switch.engaged


def test_an_unknown_open_order_of_ours_is_adopted_as_open_with_an_audit_entry() -> None:
    account = _account()
    stray = _order(3, "ETHUSDT", Side.BUY, 1.0, price=2_000.0)
    account.venue.orders[stray.client_order_id] = stray
    report = account.run()
    assert _kinds(report) == [
        (Discrepancy.UNKNOWN_ORDER, stray.client_order_id, Resolution.ADOPTED)
    ]
    account.apply(report)
    assert account.orders.get(stray.client_order_id) == stray
    assert [a.subject for a in account.audit] == [stray.client_order_id]
    assert account.audit[0].by == f"reconciliation:{RUN}" and "adopted" in account.audit[0].reason
    assert not account.kill_switch.engaged
    assert account.run().clean


def test_a_missing_fill_is_adopted_and_moves_position_and_balance_the_normal_way() -> None:
    account = _account()
    add = _order(4, "BTCUSDT", Side.BUY, 0.05)
    account.venue.orders[add.client_order_id] = add
    account.orders.on_order_update(add)  # journalled as sent; its fill never heard
    fill = _venue_fills(account.venue, add, 50_200.0, 1.25)
    report = account.run()
    assert _kinds(report) == [
        (Discrepancy.ORDER_STATE, add.client_order_id, Resolution.ADOPTED),
        (Discrepancy.MISSING_FILL, fill.fill_id, Resolution.ADOPTED),
        (Discrepancy.POSITION, "BTCUSDT", Resolution.ADOPTED),
    ]
    account.apply(report)
    assert account.portfolio.quantity("BTCUSDT") == pytest.approx(0.15)
    assert account.portfolio.wallet_balance == pytest.approx(account.venue.wallet)
    last = account.portfolio.ledger.entries[-1]
    assert (last.kind, last.amount, last.ref) == (
        LedgerKind.FEE,
        -1.25,
        f"reconcile:{add.client_order_id}",
    )
    assert account.orders.get(add.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert fill in account.orders.fill_log
    assert len(account.audit) == 3 and not account.kill_switch.engaged
    assert account.run().clean


def test_a_position_the_ledger_lacks_is_adopted_when_fills_of_ours_explain_it() -> None:
    account = _account()
    short = _order(5, "ETHUSDT", Side.SELL, 1.0)  # sent, then the process died: no journal row
    fill = _venue_fills(account.venue, short, 2_000.0, 0.8)
    report = account.run()
    assert _kinds(report) == [
        (Discrepancy.UNKNOWN_ORDER, short.client_order_id, Resolution.ADOPTED),
        (Discrepancy.MISSING_FILL, fill.fill_id, Resolution.ADOPTED),
        (Discrepancy.POSITION, "ETHUSDT", Resolution.ADOPTED),
    ]
    account.apply(report)
    assert account.portfolio.position("ETHUSDT").quantity == -1.0
    assert account.portfolio.position("ETHUSDT").entry_price == 2_000.0
    assert account.run().clean


def test_a_position_the_ledger_lacks_and_no_fill_explains_halts_with_the_numbers() -> None:
    account = _account()
    account.venue.held["SOLUSDT"] = Position("SOLUSDT", 10.0, 150.0)
    report = account.run()
    assert _kinds(report) == [(Discrepancy.POSITION, "SOLUSDT", Resolution.HALT)]
    assert "ledger 0, after adopted fills 0, venue 10 @ 150" in report.halts[0].reason
    account.apply(report)
    state = account.kill_switch.state()
    assert state.engaged and state.changed_by == f"reconciliation:{RUN}"
    assert "SOLUSDT" in state.reason and "venue 10 @ 150" in state.reason
    assert account.portfolio.quantity("SOLUSDT") == 0.0  # nothing was made up
    assert [a.resolution for a in account.audit] == [Resolution.HALT]


def test_a_position_of_another_size_than_the_fills_explain_halts() -> None:
    account = _account()
    account.venue.held["BTCUSDT"] = Position("BTCUSDT", 0.3, 50_000.0)
    report = account.run()
    assert _kinds(report) == [(Discrepancy.POSITION, "BTCUSDT", Resolution.HALT)]
    assert "ledger 0.1, after adopted fills 0.1, venue 0.3" in report.halt_reason


def test_a_position_the_venue_no_longer_holds_halts_never_assumed_flat() -> None:
    account = _account()
    del account.venue.held["BTCUSDT"]
    report = account.run()
    assert _kinds(report) == [(Discrepancy.POSITION, "BTCUSDT", Resolution.HALT)]
    assert "ledger 0.1, after adopted fills 0.1, venue 0" in report.halt_reason
    account.apply(report)
    assert account.portfolio.quantity("BTCUSDT") == pytest.approx(0.1)  # left as it was


def test_a_balance_off_by_a_fee_is_adopted_as_a_fee_ledger_entry() -> None:
    account = _account()
    account.venue.wallet -= 0.4
    report = account.run()
    assert _kinds(report) == [(Discrepancy.BALANCE, "USDT", Resolution.ADOPTED)]
    assert report.differences[0].ledger_amount == pytest.approx(-0.4)
    account.apply(report)
    last = account.portfolio.ledger.entries[-1]
    assert (last.kind, last.ref) == (LedgerKind.FEE, "reconcile:balance")
    assert last.amount == pytest.approx(-0.4)
    assert account.portfolio.wallet_balance == pytest.approx(account.venue.wallet)
    assert "adopted as a fee adjustment" in account.audit[0].reason
    assert account.run().clean


def test_a_balance_beyond_the_tolerance_halts_with_the_numbers() -> None:
    account = _account()
    account.venue.wallet += 50.0
    report = account.run(ReconcileConfig(balance_tolerance=1.0))
    assert _kinds(report) == [(Discrepancy.BALANCE, "USDT", Resolution.HALT)]
    assert "venue 10048" in report.halt_reason and "difference +50" in report.halt_reason
    account.apply(report)
    assert account.kill_switch.engaged
    assert account.portfolio.wallet_balance == START_BALANCE - 2.0  # not adopted


def test_a_foreign_order_halts_and_is_never_cancelled() -> None:
    account = _account()
    manual = Order("web_8842", "BTCUSDT", Side.SELL, OrderType.LIMIT, 0.5, HOUR, 70_000.0)
    account.venue.orders[manual.client_order_id] = manual
    report = account.run()
    assert _kinds(report) == [(Discrepancy.FOREIGN_ORDER, "web_8842", Resolution.HALT)]
    account.apply(report)
    assert "foreign order on the account" in account.kill_switch.state().reason
    assert account.venue.cancels == [] and account.orders.get("web_8842") is None


def test_an_open_order_the_venue_never_heard_of_halts_and_a_finished_one_is_adopted() -> None:
    account = _account()
    lost = _order(6, "ETHUSDT", Side.BUY, 1.0, price=1_900.0)
    account.orders.on_order_update(lost)  # journalled, never reached the venue
    resting = account.venue.orders["r1-BTCUSDT-2"]
    account.venue.orders["r1-BTCUSDT-2"] = resting.transition(OrderStatus.CANCELED, 3 * HOUR)
    report = account.run()
    assert _kinds(report) == [
        (Discrepancy.ORDER_STATE, "r1-BTCUSDT-2", Resolution.ADOPTED),
        (Discrepancy.ORDER_LOST, lost.client_order_id, Resolution.HALT),
    ]
    assert "the venue never heard of it" in report.halt_reason
    account.apply(report)
    assert account.orders.get("r1-BTCUSDT-2").status is OrderStatus.CANCELED  # type: ignore[union-attr]


def test_a_fill_reported_twice_is_adopted_once_and_a_foreign_fill_halts() -> None:
    account = _account()
    add = _order(7, "BTCUSDT", Side.BUY, 0.05)
    fill = _venue_fills(account.venue, add, 50_000.0, 1.0)
    account.venue.fills.append(fill)
    alien = Fill("x-1", "web_1", "BTCUSDT", Side.BUY, 0.01, 50_000.0, 0.2, 3 * HOUR)
    account.venue.fills.append(alien)
    report = account.run()
    fills = [d for d in report.differences if d.kind is Discrepancy.MISSING_FILL]
    assert [(d.subject, d.resolution) for d in fills] == [
        (fill.fill_id, Resolution.ADOPTED),
        ("x-1", Resolution.HALT),
    ]
    assert "of a foreign order" in report.halt_reason


def test_seeded_discrepancies_at_start_none_ignored_and_the_second_run_finds_nothing() -> None:
    """The acceptance: an unknown open order, a missing fill, a position the ledger lacks and a
    balance off by a fee, all at once; each adopted with an audit entry, none ignored."""
    account = _account()
    stray = _order(3, "ETHUSDT", Side.BUY, 1.0, price=1_800.0)
    account.venue.orders[stray.client_order_id] = stray
    add = _order(4, "BTCUSDT", Side.BUY, 0.05)
    account.venue.orders[add.client_order_id] = add
    account.orders.on_order_update(add)
    missing = _venue_fills(account.venue, add, 50_100.0, 1.0)
    short = _order(5, "ETHUSDT", Side.SELL, 2.0)
    lacking = _venue_fills(account.venue, short, 2_000.0, 1.6)
    account.venue.wallet -= 0.35  # a fee the journal never saw
    report = account.run()
    seeded = {
        (Discrepancy.UNKNOWN_ORDER, stray.client_order_id),
        (Discrepancy.MISSING_FILL, missing.fill_id),
        (Discrepancy.MISSING_FILL, lacking.fill_id),
        (Discrepancy.POSITION, "ETHUSDT"),
        (Discrepancy.POSITION, "BTCUSDT"),
        (Discrepancy.BALANCE, "USDT"),
    }
    assert seeded <= {(d.kind, d.subject) for d in report.differences}
    assert not report.halts, report.halt_reason
    account.apply(report)
    assert {(a.kind, a.subject) for a in account.audit} >= seeded
    assert all(a.resolution is Resolution.ADOPTED and a.reason for a in account.audit)
    assert account.portfolio.wallet_balance == pytest.approx(account.venue.wallet)
    assert account.portfolio.position("ETHUSDT").quantity == -2.0
    assert not account.kill_switch.engaged
    assert account.run().clean  # idempotent


def test_a_halt_is_not_adopted_away_the_next_run_reports_it_again() -> None:
    """A halt is not adopted away: the second run reports it again (nothing was written)."""
    account = _account()
    account.venue.held["SOLUSDT"] = Position("SOLUSDT", 10.0, 150.0)
    first = account.run()
    account.apply(first)
    assert _kinds(account.run()) == _kinds(first)


def test_the_simulated_exchange_is_a_venue_account_that_reconciles_clean() -> None:
    desk = make_desk()
    desk.bar("BTCUSDT", 0, 30_000.0, 30_010.0, 29_990.0, 30_000.0)
    desk.orders.submit("BTCUSDT", Side.BUY, 0.5)
    desk.orders.submit("BTCUSDT", Side.SELL, 0.5, OrderType.LIMIT, price=40_000.0)
    desk.bar("BTCUSDT", HOUR, 30_000.0, 30_100.0, 29_900.0, 30_050.0)
    venue: ReconcilingVenue = desk.exchange
    assert [f.client_order_id for f in venue.recent_fills(0)] == ["t-BTCUSDT-1"]
    assert venue.recent_fills(3 * HOUR) == []
    report = reconcile(venue, local_book(desk.orders, desk.portfolio), since_ms=0, at=2 * HOUR)
    assert report.clean, report.differences
