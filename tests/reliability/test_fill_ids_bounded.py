"""The fill ids the order journal and the account keep are bounded by reconciliation's read
window, and no repeat a reader can deliver gets through (docs/reliability.md, known limits).

A venue held in memory (:class:`TapeVenue`) fills the orders of a long live session, reports
each fill on its stream (the venue book posts it to the account, the order manager journals
it) and reports fills again the ways the code shows they come back: a fill inside the next
reconciliation's window heard again (stream and poll, a reconnect), the fills of an order
still open reported again from its first (a poll whose copy of the order is behind, as after
a restart), and a fill the stream missed, adopted by reconciliation, reported again much later
(the venue's copy of its order catching up). Reconciliation runs on the schedule and over the
window of ``app/venue.py``.
"""

from __future__ import annotations

import json
import random
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from quantum_trader.app.venue import RECONCILE_OVERLAP_MS
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.orders import Fill, Order, OrderType, Side, filled_order
from quantum_trader.domain.positions import Position
from quantum_trader.execution.instruments import BINANCE_USDM
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.execution.reconciliation import (
    Discrepancy,
    ReconciliationReport,
    apply,
    local_book,
    reconcile,
)
from quantum_trader.execution.venue import ExecutionListener, VenueFunding
from quantum_trader.execution.venue_book import VenueBook
from quantum_trader.portfolio.portfolio import Portfolio

MINUTE = 60_000
START = 1_700_000_000_000
BALANCE = 100_000.0
PRICE = 50_000.0
FEE_RATE = 0.0004
RECONCILE_EVERY = 15 * MINUTE  # QT_RECONCILE_MINUTES' default
LOST_EVERY = 97  # every 97th minute a fill the stream loses
LATE = 600  # ... reported again this many minutes later (its order's copy catching up)


def _time(fill: Fill) -> int:
    return fill.time


@dataclass
class TapeVenue:
    """A venue in memory: its own account (the truth), its orders and every fill it made."""

    clock: SimulatedClock
    account: Portfolio = field(default_factory=lambda: Portfolio("venue"))
    orders: dict[str, Order] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    listener: ExecutionListener | None = None

    def __post_init__(self) -> None:
        self.account.deposit(BALANCE, 0)

    # the Venue port
    def set_listener(self, listener: ExecutionListener) -> None:
        self.listener = listener

    def set_leverage(self, symbol: str, leverage: float) -> None:
        pass

    def submit(self, order: Order, good_till: int | None = None) -> Order:
        self.orders[order.client_order_id] = order
        return order

    def cancel(self, client_order_id: str) -> Order:
        return self.orders[client_order_id]

    def fetch_order(self, client_order_id: str) -> Order | None:
        return self.orders.get(client_order_id)

    # the RemoteVenue reads
    def poll(self) -> list[Order]:
        return []

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if not o.status.is_terminal]

    def recent_fills(self, since_ms: int) -> list[Fill]:
        return [f for f in self.fills if f.time >= since_ms]

    def funding_since(self, since_ms: int) -> list[VenueFunding]:
        return []

    def track(self, orders: Iterable[Order]) -> None:
        pass

    def positions(self) -> dict[str, Position]:
        return {s: p for s, p in self.account.positions().items() if p.quantity != 0}

    def balance(self) -> float:
        return self.account.wallet_balance

    # what the venue does
    def fill(self, cid: str, quantity: float, *, reported: bool = True) -> Fill:
        """Fill ``quantity`` of the order now; the stream reports it unless not ``reported``."""
        order, now = self.orders[cid], self.clock.now()
        fee = quantity * PRICE * FEE_RATE
        fill = Fill(
            f"{cid}#{len(self.fills)}", cid, order.symbol, order.side, quantity, PRICE, fee, now
        )
        self.orders[cid] = filled_order(order, quantity, PRICE, now)
        self.account.apply_fill(
            order.symbol, order.side, quantity, PRICE, fee, now, cid, fill_id=fill.fill_id
        )
        self.fills.append(fill)
        if reported:
            self.report(fill)
        return fill

    def report(self, fill: Fill) -> None:
        """The fill reported (again) with its order as the venue holds it now."""
        assert self.listener is not None
        self.listener.on_fill(fill, self.orders[fill.client_order_id])


@dataclass
class Session:
    clock: SimulatedClock
    venue: TapeVenue
    book: VenueBook
    orders: OrderManager
    portfolio: Portfolio
    reports: list[ReconciliationReport] = field(default_factory=list)
    last_check: int = START

    def reconcile(self) -> ReconciliationReport:
        """``app/venue.py``'s scheduled check: the window from the last check less the overlap,
        never before the start (the handover)."""
        now = self.clock.now()
        since = max(self.last_check - RECONCILE_OVERLAP_MS, START)
        report = reconcile(
            self.venue, local_book(self.orders, self.portfolio), since_ms=since, at=now
        )
        apply(report, journal=self.orders, portfolio=self.portfolio, halt=self._halt)
        self.reports.append(report)
        self.last_check = now
        return report

    @staticmethod
    def _halt(reason: str) -> None:
        raise AssertionError(reason)

    def kept(self) -> tuple[set[str], set[str]]:
        """The fill ids the journal's and the account's checkpoints hold."""
        return (
            set(self.orders.snapshot()["fill_ids"]),
            set(self.portfolio.snapshot()["fill_ids"]),
        )


def session() -> Session:
    clock = SimulatedClock(START)
    portfolio = Portfolio("live")
    portfolio.deposit(BALANCE, 0)
    portfolio.mark("BTCUSDT", PRICE)
    portfolio.mark("ETHUSDT", PRICE)
    venue = TapeVenue(clock)
    book = VenueBook(venue, portfolio, BINANCE_USDM, clock)
    orders = OrderManager(
        book, BINANCE_USDM, clock, InProcessBus(clock, "live"), "live", mark=lambda s: PRICE
    )
    return Session(clock, venue, book, orders, portfolio)


def test_a_long_run_keeps_the_ids_of_the_read_window_and_drops_every_repeat() -> None:
    rng = random.Random(7)
    run = session()
    # an order open the whole run, filled in parts: its fills can come again from its first
    resting = run.orders.submit("BTCUSDT", Side.SELL, 1.0, OrderType.LIMIT, price=PRICE)
    rid = resting.client_order_id
    repeats, missed, missed_later, most = 0, set(), [], (0, 0)
    for step in range(1, 3_001):
        run.clock.advance_to(START + step * MINUTE)
        if step % 100 == 0:
            run.venue.fill(rid, 0.01)
        side = Side.BUY if step % 2 else Side.SELL
        cid = run.orders.submit("BTCUSDT", side, 0.01).client_order_id
        run.venue.fill(cid, 0.01)
        if step % LOST_EVERY == 0:  # a fill the stream loses: reconciliation adopts it
            eth = run.orders.submit("ETHUSDT", Side.BUY, 0.01).client_order_id
            lost = run.venue.fill(eth, 0.01, reported=False)
            missed.add(lost.fill_id)
            missed_later.append((step + LATE, lost))  # the venue's copy of it catches up
        # a fill the next reconciliation still reads, heard again (stream and poll, reconnect)
        fills = run.venue.fills
        first = bisect_left(fills, run.last_check - RECONCILE_OVERLAP_MS, key=_time)
        window = [f for f in fills[first:] if f.fill_id not in missed]
        for again in rng.sample(window, min(2, len(window))):
            run.venue.report(again)
            repeats += 1
        while missed_later and missed_later[0][0] == step:
            run.venue.report(missed_later.pop(0)[1])
            repeats += 1
        if step % 500 == 0:  # the resting order's copy behind: all its fills from its first
            for again in [f for f in run.venue.fills if f.client_order_id == rid]:
                run.venue.report(again)
                repeats += 1
        if (run.clock.now() - START) % RECONCILE_EVERY == 0:
            run.reconcile()
            journal, account = run.kept()
            most = (max(most[0], len(journal)), max(most[1], len(account)))

    distinct = len(run.venue.fills)
    # every repeat dropped, by both; every fill taken once; the book is the venue's
    assert run.orders.duplicate_fills == run.portfolio.duplicate_fills == repeats
    assert run.orders.fills == distinct
    assert run.portfolio.quantity("BTCUSDT") == pytest.approx(run.venue.account.quantity("BTCUSDT"))
    assert run.portfolio.wallet_balance == pytest.approx(run.venue.balance())
    adopted = [
        d.subject for r in run.reports for d in r.adopted if d.kind is Discrepancy.MISSING_FILL
    ]
    assert sorted(adopted) == sorted(missed) and len(missed) == 3_000 // LOST_EVERY
    assert not any(r.halts for r in run.reports)
    # bounded: the fills of the last window read, the open order's, the adopted ones the
    # venue has not reported again yet; nothing older
    journal, account = run.kept()
    of_open = {f.fill_id for f in run.venue.fills if f.client_order_id == rid}
    held = {f.fill_id for _, f in missed_later}
    per_window = (RECONCILE_OVERLAP_MS + RECONCILE_EVERY) // MINUTE + 1
    held_at_most = LATE // LOST_EVERY + 1
    print(f"{distinct} fills, {repeats} repeats; ids kept at most {most}, now {len(journal)}")
    assert max(most) <= per_window + len(of_open) + 2 * held_at_most
    since = run.reports[-1].since
    window = {f.fill_id for f in run.venue.fills if f.time >= since}
    assert journal == account == window | of_open | held


def trade_for(run: Session, minutes: int) -> None:
    """One market order a minute, filled and reported; reconciled on the schedule."""
    start = (run.clock.now() - START) // MINUTE
    for step in range(start + 1, start + minutes + 1):
        run.clock.advance_to(START + step * MINUTE)
        side = Side.BUY if step % 2 else Side.SELL
        run.venue.fill(run.orders.submit("BTCUSDT", side, 0.01).client_order_id, 0.01)
        if (run.clock.now() - START) % RECONCILE_EVERY == 0:
            run.reconcile()


def test_reconciliation_after_the_bound_adopts_what_is_missing_and_nothing_it_forgot() -> None:
    run = session()
    trade_for(run, 600)
    journal, _ = run.kept()
    assert len(journal) < 600 // 2  # older ids forgotten
    # a fill the stream lost: the next reconciliation finds it, and only it
    eth = run.orders.submit("ETHUSDT", Side.BUY, 0.01).client_order_id
    lost = run.venue.fill(eth, 0.01, reported=False)
    trade_for(run, 15)
    missing = [d.fill for d in run.reports[-1].adopted if d.fill is not None]
    assert missing == [lost]
    assert run.portfolio.quantity("ETHUSDT") == pytest.approx(0.01)
    # a read from the start (a restart's ``since_ms`` further back than the window): the fills
    # whose ids were forgotten are not adopted again, and the book still agrees with the venue
    far_back = reconcile(
        run.venue, local_book(run.orders, run.portfolio), since_ms=START, at=run.clock.now()
    )
    assert far_back.clean, far_back.halt_reason or far_back.adopted
    trade_for(run, 15)
    assert not run.reports[-1].differences
    assert run.portfolio.quantity("BTCUSDT") == pytest.approx(run.venue.account.quantity("BTCUSDT"))
    assert run.portfolio.wallet_balance == pytest.approx(run.venue.balance())


def restarted(run: Session, journal: dict[str, Any], account: dict[str, Any]) -> Session:
    """A new process from the checkpoint's journal and account snapshots (JSON, as stored)."""
    fresh = session()
    fresh.clock.advance_to(run.clock.now())
    fresh.venue = run.venue
    fresh.book = VenueBook(run.venue, fresh.portfolio, BINANCE_USDM, fresh.clock)
    fresh.orders = OrderManager(
        fresh.book,
        BINANCE_USDM,
        fresh.clock,
        InProcessBus(fresh.clock, "live"),
        "live",
        mark=lambda s: PRICE,
    )
    fresh.portfolio.restore(json.loads(json.dumps(account)))
    fresh.orders.restore(json.loads(json.dumps(journal)), run.orders.orders)
    fresh.last_check = run.last_check
    return fresh


def test_a_checkpoint_keeps_the_bound_and_an_old_one_restores_its_ids_for_good() -> None:
    run = session()
    trade_for(run, 300)
    journal, account = run.orders.snapshot(), run.portfolio.snapshot()
    again = restarted(run, journal, account)
    assert set(again.orders.snapshot()["fill_ids"]) == set(journal["fill_ids"])
    assert again.orders.fills_from == run.orders.fills_from > START
    window = [f for f in run.venue.fills if f.time >= run.orders.fills_from]
    for fill in window:  # the window heard again after the restart: every one a repeat
        run.venue.report(fill)
    assert again.orders.duplicate_fills == again.portfolio.duplicate_fills == len(window)
    # a checkpoint from before fills were dated: its ids alone, kept through any bound
    old_journal = {k: v for k, v in journal.items() if k not in ("fill_times", "fills_from")}
    old_account = {k: v for k, v in account.items() if k not in ("fill_times", "fills_from")}
    old_journal["fill_ids"] = old_account["fill_ids"] = [f.fill_id for f in run.venue.fills]
    old = restarted(run, old_journal, old_account)
    later = run.clock.now() + 10 * RECONCILE_EVERY
    assert old.orders.forget_fills_before(later, set()) == 0
    assert old.portfolio.forget_fills_before(later, set()) == 0
    for fill in run.venue.fills:  # every fill the old checkpoint named, heard again
        run.venue.report(fill)
    assert old.orders.duplicate_fills == old.portfolio.duplicate_fills == len(run.venue.fills)
    assert old.portfolio.quantity("BTCUSDT") == pytest.approx(run.venue.account.quantity("BTCUSDT"))
