"""The comparisons of reconciliation, one method per kind of difference, and the records they
produce. The policy they apply is written in ``reconciliation.py``, which runs them in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from quantum_trader.domain.errors import (
    DomainValidationError,
    InvalidTransitionError,
    OrderRejectedError,
)
from quantum_trader.domain.orders import Fill, Order, OrderStatus, Side, filled_order
from quantum_trader.domain.positions import Position
from quantum_trader.execution.ccxt_mapping import closes_position
from quantum_trader.portfolio.portfolio import Portfolio

#: the venue's order by client id (None: it never heard of it)
OrderLookup = Callable[[str], Order | None]


@dataclass(frozen=True, slots=True)
class LocalBook:
    """What the ledger and the order journal hold, at the moment of reconciling.

    ``orders`` is the whole journal by client id (an order we know may be finished);
    ``fill_ids`` the ids of the fills it heard and kept: every one dated at or after
    ``fills_from``, and all those of the orders it holds open (``OrderManager.fills_from``);
    ``prefixes`` the client-id prefixes that mark an order as ours (``f"{run_id}-"``, and the
    lineage's ``qt-<tag>-`` on a real venue: ``client_ids.py``).
    """

    orders: Mapping[str, Order]
    fill_ids: frozenset[str]
    positions: Mapping[str, Position]
    balance: float
    prefixes: tuple[str, ...]
    fills_from: int = 0

    @property
    def open_orders(self) -> dict[str, Order]:
        return {c: o for c, o in self.orders.items() if not o.status.is_terminal}

    def is_ours(self, client_order_id: str) -> bool:
        return client_order_id.startswith(self.prefixes)


class Discrepancy(StrEnum):
    UNKNOWN_ORDER = "unknown_order"  # ours, on the venue, not in the journal
    FOREIGN_ORDER = "foreign_order"  # not our client id
    ORDER_STATE = "order_state"  # in the journal at another state than the venue's
    ORDER_LOST = "order_lost"  # open in the journal, the venue never heard of it
    MISSING_FILL = "missing_fill"
    POSITION = "position"
    BALANCE = "balance"


class Resolution(StrEnum):
    ADOPTED = "adopted"
    HALT = "halt"


@dataclass(frozen=True, slots=True)
class Difference:
    """One difference and how it is resolved.

    ``order``: the order state to journal; ``fill``: the fill to journal and post;
    ``ledger_amount``: the balance adjustment to append (BALANCE adopted). ``reason`` is the
    audit reason of an adoption or the halt's reason.
    """

    kind: Discrepancy
    subject: str
    resolution: Resolution
    reason: str
    order: Order | None = None
    fill: Fill | None = None
    ledger_amount: float | None = None


def _adopt(
    kind: Discrepancy,
    subject: str,
    reason: str,
    *,
    order: Order | None = None,
    fill: Fill | None = None,
    ledger_amount: float | None = None,
) -> Difference:
    return Difference(kind, subject, Resolution.ADOPTED, reason, order, fill, ledger_amount)


def _halt(kind: Discrepancy, subject: str, reason: str) -> Difference:
    return Difference(kind, subject, Resolution.HALT, reason)


def _same_state(a: Order, b: Order) -> bool:
    return a.status is b.status and abs(a.filled_quantity - b.filled_quantity) <= 1e-12 * max(
        1.0, a.quantity
    )


class Comparison:
    """One reconciliation's working state: the venue's orders seen so far, the differences."""

    def __init__(self, lookup: OrderLookup, local: LocalBook) -> None:
        self._lookup = lookup
        self.local = local
        self.out: list[Difference] = []
        #: the venue's view of the orders looked at (open list and lookups), by client id
        self.venue_orders: dict[str, Order] = {}

    def lookup(self, cid: str) -> Order | None:
        """The venue's order by client id (cached); an adapter's refusal reads as unknown."""
        if cid not in self.venue_orders:
            try:
                found = self._lookup(cid)
            except OrderRejectedError:
                found = None
            if found is None:
                return None
            self.venue_orders[cid] = found
        return self.venue_orders[cid]

    # --- 1. the venue's open orders --------------------------------------------------
    def open_orders(self, venue_open: Iterable[Order]) -> None:
        local = self.local
        for order in sorted(venue_open, key=lambda o: o.client_order_id):
            cid = order.client_order_id
            self.venue_orders[cid] = order
            known = local.orders.get(cid)
            if not local.is_ours(cid) and closes_position(order):
                # a close-all stop or take-profit a person set on the venue: it can only close
                # the position (never open or grow one), and the protective stops count it;
                # not the engine's to journal, nor a reason to stop trading
                continue
            if not local.is_ours(cid):
                self.out.append(
                    _halt(
                        Discrepancy.FOREIGN_ORDER,
                        cid,
                        f"foreign order on the account: {order.side} {order.quantity:g} "
                        f"{order.symbol} ({order.status}); not cancelled, a person decides",
                    )
                )
            elif known is None:
                self.out.append(
                    _adopt(
                        Discrepancy.UNKNOWN_ORDER,
                        cid,
                        f"open on the venue ({order.status}, {order.filled_quantity:g}/"
                        f"{order.quantity:g} filled), missing from the journal: adopted as open",
                        order=order,
                    )
                )
            elif known.status.is_terminal:
                self.out.append(
                    _halt(
                        Discrepancy.ORDER_STATE,
                        cid,
                        f"journal holds it {known.status}, the venue has it open "
                        f"({order.status}, {order.filled_quantity:g}/{order.quantity:g} filled)",
                    )
                )
            elif not _same_state(known, order):
                self.out.append(self._state_change(known, order))

    def _state_change(self, known: Order, venue_order: Order) -> Difference:
        return _adopt(
            Discrepancy.ORDER_STATE,
            known.client_order_id,
            f"journal {known.status} {known.filled_quantity:g}/{known.quantity:g}, venue "
            f"{venue_order.status} {venue_order.filled_quantity:g}/{venue_order.quantity:g}: "
            "adopted the venue's state",
            order=venue_order,
        )

    # --- 2. orders the journal holds open and the venue does not list ------------------
    def closed_orders(self, venue_open_ids: set[str]) -> None:
        for cid, known in sorted(self.local.open_orders.items()):
            if cid in venue_open_ids:
                continue
            found = self.lookup(cid)
            if found is None:
                self.out.append(
                    _halt(
                        Discrepancy.ORDER_LOST,
                        cid,
                        f"journal holds it open ({known.status} {known.side} "
                        f"{known.quantity:g} {known.symbol}); the venue never heard of it",
                    )
                )
            elif not _same_state(known, found):
                self.out.append(self._state_change(known, found))

    # --- 3. fills the journal lacks ----------------------------------------------------
    def fills(self, venue_fills: Iterable[Fill]) -> list[Fill]:
        """Adopt the fills of orders we know; returns them, oldest first.

        A fill dated before ``fills_from`` whose id is not kept, of an order the journal holds
        finished, may be one heard and forgotten: it is not adopted (posted twice it would
        double a position). Reconciliation's windows start at or after ``fills_from``
        (``reconciliation.apply``), so only a read from further back meets one; a fill of
        that age truly missing still shows in the position and balance checks."""
        adopted: list[Fill] = []
        seen = set(self.local.fill_ids)
        horizon, journal = self.local.fills_from, self.local.orders
        running: dict[str, Order] = {}  # the order as the fills adopted so far leave it
        for fill in sorted(venue_fills, key=lambda f: (f.time, f.fill_id)):
            if fill.fill_id in seen:
                continue
            known = journal.get(fill.client_order_id) if fill.time < horizon else None
            if known is not None and known.status.is_terminal:
                continue
            seen.add(fill.fill_id)
            base = running.get(fill.client_order_id) or self._order_of(fill)
            if base is None:
                continue
            moved = self._fill_order(fill, base)
            if moved is not None:
                running[fill.client_order_id] = moved
                adopted.append(fill)
        return adopted

    def _order_of(self, fill: Fill) -> Order | None:
        """The order a missing fill belongs to, as the journal held it (None: halted)."""
        cid = fill.client_order_id
        known = self.local.orders.get(cid)
        if known is not None:
            return known
        what = f"{fill.side} {fill.quantity:g} {fill.symbol} @ {fill.price:g} (order {cid})"
        ours = self.local.is_ours(cid)
        found = self.lookup(cid) if ours else self._close_all(cid)
        if not ours and found is None:
            self.out.append(
                _halt(Discrepancy.MISSING_FILL, fill.fill_id, f"fill {what} of a foreign order")
            )
            return None
        if found is None:
            self.out.append(
                _halt(
                    Discrepancy.MISSING_FILL,
                    fill.fill_id,
                    f"fill {what}: the venue cannot find its order",
                )
            )
            return None
        if not any(d.subject == cid and d.order is not None for d in self.out):
            whose = "ours" if ours else "a close-all order set by hand (closePosition)"
            self.out.append(
                _adopt(
                    Discrepancy.UNKNOWN_ORDER,
                    cid,
                    f"{whose}, missing from the journal, found by lookup ({found.status}): adopted",
                    order=found,
                )
            )
        # the journal knew nothing of it: its fills start from an unfilled order
        return replace(
            found, status=OrderStatus.NEW, filled_quantity=0.0, average_price=0.0, updated_at=None
        )

    def _close_all(self, cid: str) -> Order | None:
        """A foreign order's fill is adopted only when the venue says the order is a close-all
        one set by hand (``closePosition``): it fired before a poll heard it. The ccxt venue
        knows it when a listing read it, or when it read the trade's order by its venue id and
        the algo-order API named the stop that became it (``CcxtVenue.recent_fills``, even if
        no listing ever saw the stop); anything else stays a foreign order's fill, which
        halts."""
        found = self.lookup(cid)
        return found if found is not None and closes_position(found) else None

    def _fill_order(self, fill: Fill, base: Order) -> Order | None:
        """Adopt ``fill`` on ``base``; returns the order after it (None: halted instead)."""
        what = f"fill {fill.side} {fill.quantity:g} {fill.symbol} @ {fill.price:g}"
        try:
            moved = filled_order(base, fill.quantity, fill.price, fill.time)
        except (DomainValidationError, InvalidTransitionError) as exc:
            self.out.append(
                _halt(
                    Discrepancy.MISSING_FILL, fill.fill_id, f"{what} does not fit its order: {exc}"
                )
            )
            return None
        venue_state = self.venue_orders.get(fill.client_order_id)
        whose = "our order" if self.local.is_ours(fill.client_order_id) else "the close-all order"
        self.out.append(
            _adopt(
                Discrepancy.MISSING_FILL,
                fill.fill_id,
                f"{what} of {whose} {fill.client_order_id}, fee {fill.fee:g}: missing from "
                "the journal, adopted",
                order=venue_state or moved,
                fill=fill,
            )
        )
        return moved

    # --- 4. and 5. positions and balance -------------------------------------------------
    def expected_book(self, adopted: list[Fill]) -> Portfolio:
        """The ledger's positions and balance with the adopted fills posted, in a scratch
        portfolio: the same accounting that will post them for real."""
        book = Portfolio("reconcile")
        book.deposit(self.local.balance, 0, "ledger")
        for symbol, pos in sorted(self.local.positions.items()):
            if pos.quantity != 0:
                side = Side.BUY if pos.quantity > 0 else Side.SELL
                book.apply_fill(symbol, side, abs(pos.quantity), pos.entry_price, 0.0, 0, "ledger")
        for f in adopted:
            book.apply_fill(f.symbol, f.side, f.quantity, f.price, f.fee, f.time, f.fill_id)
        return book

    def positions(
        self, venue: Mapping[str, Position], expected: Portfolio, adopted: list[Fill], tol: float
    ) -> None:
        local = self.local.positions
        symbols = sorted(set(local) | set(venue) | set(expected.positions()))
        for symbol in symbols:
            lq = local[symbol].quantity if symbol in local else 0.0
            eq = expected.quantity(symbol)
            vpos = venue.get(symbol) or Position(symbol)
            vq = vpos.quantity
            at_venue = f"venue {vq:g}" + (f" @ {vpos.entry_price:g}" if vq else "")
            if abs(eq - vq) <= tol:
                if abs(lq - vq) > tol:
                    ids = ", ".join(f.fill_id for f in adopted if f.symbol == symbol)
                    self.out.append(
                        _adopt(
                            Discrepancy.POSITION,
                            symbol,
                            f"ledger {lq:g}, {at_venue}: explained by the adopted fills {ids}",
                        )
                    )
            else:
                self.out.append(
                    _halt(
                        Discrepancy.POSITION,
                        symbol,
                        f"ledger {lq:g}, after adopted fills {eq:g}, {at_venue}: not explained",
                    )
                )

    def balance(self, venue_balance: float, expected: Portfolio, tolerance: float) -> None:
        want = expected.wallet_balance
        diff = venue_balance - want
        numbers = (
            f"ledger {self.local.balance:.8g}, after adopted fills {want:.8g}, venue "
            f"{venue_balance:.8g} (difference {diff:+.8g}, tolerance {tolerance:g})"
        )
        if abs(diff) <= _BALANCE_EPS:
            return
        if abs(diff) <= tolerance:
            what = "fee" if diff < 0 else "funding"
            self.out.append(
                _adopt(
                    Discrepancy.BALANCE,
                    "USDT",
                    f"{numbers}: adopted as a {what} adjustment",
                    ledger_amount=diff,
                )
            )
        else:
            self.out.append(_halt(Discrepancy.BALANCE, "USDT", f"{numbers}: beyond tolerance"))


#: a wallet difference below this (USDT) is float noise, not a difference
_BALANCE_EPS = 1e-8
