"""A real venue (testnet or live) as a session's venue: the session's account book follows the
venue's fills, and the user's notional caps stand in front of every order.

The simulated exchange fills orders at each candle's prices and posts the fills to the
session's :class:`~quantum_trader.portfolio.portfolio.Portfolio` itself. A real venue fills
when it fills; :class:`VenueBook` polls it once per candle (and whenever the engine asks), posts
each fill it reports to the same portfolio, once by its id, and hands it on to the order
manager. Nothing is fast-forwarded: every candle is a moment to look at the venue. Each poll
also reads the funding the venue settled since the last one and posts each payment to the book
once, by its id, as the simulated exchange posts its own (``Portfolio.post_funding``).

:class:`NotionalCaps` refuses an order whose notional (quantity × limit price, or × the last mark
for a market order) exceeds the cap per order, or would take the day's sent notional (UTC day of
the engine clock) past the cap per day. The refusal is a REJECTED order with the reason, as
every other venue refusal, so the decision trace shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from quantum_trader.clock.clock import Clock
from quantum_trader.domain.columns import CandleColumns
from quantum_trader.domain.orders import Fill, Order, OrderStatus
from quantum_trader.domain.positions import Position
from quantum_trader.domain.time import MS_PER_DAY
from quantum_trader.execution.instruments import SymbolSpec
from quantum_trader.execution.venue import ExecutionListener, Venue, VenueFunding
from quantum_trader.observability.logging import get_logger
from quantum_trader.portfolio.portfolio import Portfolio

log = get_logger(__name__)


class RemoteVenue(Venue, Protocol):
    """A venue that reports fills when asked (``CcxtVenue``): ``poll`` refreshes every open
    order and reports new fills and status changes to the listener; ``open_orders`` and
    ``recent_fills`` are what reconciliation reads (``execution/reconciliation.py``)."""

    def poll(self) -> list[Order]: ...

    def open_orders(self) -> list[Order]: ...

    def recent_fills(self, since_ms: int) -> list[Fill]: ...

    def funding_since(self, since_ms: int) -> list[VenueFunding]: ...

    def track(self, orders: Iterable[Order]) -> None: ...


#: funding is read back this far before the last payment heard (one the venue lists late)
FUNDING_OVERLAP_MS = 8 * 60 * 60 * 1000


@dataclass(slots=True)
class NotionalCaps:
    """The user's limits on a real venue, in USDT: per order and per UTC day (None: no cap)."""

    per_order: float | None = None
    per_day: float | None = None
    _day: int = -1
    _sent_today: float = 0.0
    refused: list[str] = field(default_factory=list)

    def check(self, notional: float, now: int) -> str | None:
        """Why an order of ``notional`` may not be sent now, or None (and it is counted)."""
        if self.per_order is not None and notional > self.per_order:
            return f"notional {notional:,.2f} USDT above the cap per order {self.per_order:,.2f}"
        day = now // MS_PER_DAY
        if day != self._day:
            self._day, self._sent_today = day, 0.0
        if self.per_day is not None and self._sent_today + notional > self.per_day:
            return (
                f"notional {notional:,.2f} USDT would take today's {self._sent_today:,.2f} past "
                f"the cap per day {self.per_day:,.2f}"
            )
        self._sent_today += notional
        return None

    def describe(self) -> str:
        def cap(value: float | None) -> str:
            return "none" if value is None else f"{value:,.2f} USDT"

        return f"caps: per order {cap(self.per_order)}, per day {cap(self.per_day)}"


class VenueBook:
    """The session venue over a :class:`RemoteVenue`; see the module docstring."""

    def __init__(
        self,
        remote: RemoteVenue,
        portfolio: Portfolio,
        specs: Mapping[str, SymbolSpec],
        clock: Clock,
        caps: NotionalCaps | None = None,
        kill_switch_engaged: Callable[[], bool] | None = None,
    ) -> None:
        self.remote = remote
        self.portfolio = portfolio
        self.specs = dict(specs)
        self.clock = clock
        self.caps = caps or NotionalCaps()
        self.funding_payments = 0  # the venue's funding payments posted to the book
        self.funding_read_failures = 0
        #: funding is read from here on (the book is built at the handover, whose adopted
        #: balance holds every earlier payment); those posted, by id, for the reads' overlap
        self._funding_from = clock.now()
        self._funding_seen: dict[str, int] = {}
        self.polls = 0
        self._listener: ExecutionListener | None = None
        self._last_poll = -1
        self._leverage: dict[str, float] = {}
        #: the open orders sent through this book, as last heard (the kill switch cancels
        #: these); an order leaves it when it ends
        self._open: dict[str, Order] = {}
        self._kill_switch_engaged = kill_switch_engaged
        self.cancelled_by_kill_switch = 0
        self.orphan_exits_cancelled = 0  # exits left without a position (``cancel_orphan_exits``)
        self.orphan_exit_failures = 0
        self.fills_before_entry = 0  # venue fills stamped before their position opened
        remote.set_listener(self)

    # ------------------------------------------------------------------ Venue port
    def set_listener(self, listener: ExecutionListener) -> None:
        self._listener = listener

    def set_leverage(self, symbol: str, leverage: float) -> None:
        if self._leverage.get(symbol) == leverage:
            return
        self.remote.set_leverage(symbol, leverage)
        spec = self.specs.get(symbol)
        self.portfolio.set_leverage(symbol, leverage, spec.maintenance_margin_rate if spec else 0)
        self._leverage[symbol] = leverage

    def leverage(self, symbol: str) -> float:
        return self._leverage.get(symbol, 1.0)

    def submit(self, order: Order, good_till: int | None = None) -> Order:
        now = self.clock.now()
        if not order.reduce_only:
            price = order.price or order.stop_price or self.portfolio.mark_price(order.symbol)
            refusal = self.caps.check(order.quantity * price, now)
            if refusal is not None:
                self.caps.refused.append(f"{order.client_order_id}: {refusal}")
                return order.transition(OrderStatus.REJECTED, now, refusal)
        self._track(order)  # known before the call: an unknown outcome stays cancellable
        return self._track(self.remote.submit(order, good_till))

    def cancel(self, client_order_id: str) -> Order:
        return self._track(self.remote.cancel(client_order_id))

    def _track(self, order: Order) -> Order:
        if order.status.is_terminal:
            self._open.pop(order.client_order_id, None)
        else:
            self._open[order.client_order_id] = order
        return order

    def fetch_order(self, client_order_id: str) -> Order | None:
        found = self.remote.fetch_order(client_order_id)
        return None if found is None else self._track(found)

    def positions(self) -> dict[str, Position]:
        return self.remote.positions()

    def balance(self) -> float:
        return self.remote.balance()

    # ------------------------------------------------------------------ the venue's reports
    def on_order_update(self, order: Order) -> None:
        self._track(order)
        if self._listener is not None:
            self._listener.on_order_update(order)

    def on_fill(self, fill: Fill, order: Order) -> None:
        """Post the venue's fill to the book (once by its id), then tell the order manager.

        A fill the venue stamps before the book opened the position it trades is posted at
        the opening instead (counted, logged with the gap): a position adopted at the handover
        or by reconciliation opens at the engine's time of the adoption, and the venue's clock
        may run behind it (or the exit filled between the venue's answer and the adoption), so
        its exit would otherwise close the trade before it opened, which the book refuses."""
        self._track(order)
        state = self.portfolio.state(fill.symbol)
        if state is not None and state.qty != 0 and fill.time < state.opened_at:
            self.fills_before_entry += 1
            log.warning("venue.fill_before_entry", fill=fill.fill_id, symbol=fill.symbol,
                        venue_time=fill.time, opened_at=state.opened_at,
                        behind_ms=state.opened_at - fill.time)  # fmt: skip
            fill = replace(fill, time=state.opened_at)
        self.portfolio.post_fill(
            fill, fill.client_order_id, order.reason, order.reason, order.decision
        )
        if self._listener is not None:
            self._listener.on_fill(fill, order)

    def poll(self) -> int:
        """Ask the venue about every open order now, then about its funding payments; returns
        how many orders it refreshed. Exits left without a position are cancelled after it
        (:meth:`cancel_orphan_exits`)."""
        self.polls += 1
        refreshed = len(self.remote.poll())
        self._post_funding()
        self.cancel_orphan_exits()
        return refreshed

    def cancel_orphan_exits(self) -> int:
        """Cancel the reduce-only exits this book follows whose symbol is flat, both in the
        book and on the venue; returns how many.

        When one exit of a pair fills (a stop, or a take-profit), the other stays working: the
        simulated exchange cancels it at once, a real venue need not (reduce-only orders that
        can no longer reduce are cancelled by some venues, left to expire when reached by
        others), and one left working would close part of a *later* position of the same side,
        an exit no decision asked for. The venue's positions are read before anything is
        cancelled, and only when the book is flat, so an exit protecting a position the book
        has not adopted yet (a restart before reconciliation) is never touched. A cancel that
        fails is tried again at the next poll (counted)."""
        flat = [o for o in self._open.values() if o.reduce_only and self._flat(o.symbol)]
        if not flat:
            return 0
        try:
            held = self.remote.positions()
        except TimeoutError:
            self.orphan_exit_failures += 1
            return 0
        cancelled = 0
        for order in flat:
            if order.symbol in held and held[order.symbol].quantity != 0:
                continue
            try:
                answer = self.cancel(order.client_order_id)
            except Exception as exc:
                # the venue adapter's own errors (ccxt's) are not this module's to name:
                # whatever refused the cancel, the exit is still followed and tried again
                self.orphan_exit_failures += 1
                log.warning("venue.orphan_exit_cancel_failed", order=order.client_order_id,
                            symbol=order.symbol, error=f"{type(exc).__name__}: {exc}")  # fmt: skip
                continue
            if self._listener is not None:
                self._listener.on_order_update(answer)
            cancelled += 1
            log.info("venue.orphan_exit_cancelled", order=order.client_order_id,
                     symbol=order.symbol, reason=order.reason)  # fmt: skip
        self.orphan_exits_cancelled += cancelled
        return cancelled

    def _flat(self, symbol: str) -> bool:
        return self.portfolio.quantity(symbol) == 0

    def _post_funding(self) -> None:
        """The funding the venue settled since the last read, each payment posted to the book
        once (by its id: reads overlap by ``FUNDING_OVERLAP_MS``, for a payment the venue lists
        late). No answer: read again at the next poll, from the same time."""
        since = self._funding_from - FUNDING_OVERLAP_MS
        try:
            payments = self.remote.funding_since(since)
        except TimeoutError:
            self.funding_read_failures += 1
            return
        for f in payments:
            if f.income_id in self._funding_seen:
                continue
            self._funding_seen[f.income_id] = f.time
            self.portfolio.post_funding(f.symbol, -f.income, f.time, f"venue funding {f.income_id}")
            self.funding_payments += 1
            self._funding_from = max(self._funding_from, f.time)
        horizon = self._funding_from - FUNDING_OVERLAP_MS
        self._funding_seen = {k: t for k, t in self._funding_seen.items() if t >= horizon}

    # ------------------------------------------------------------------ session hooks
    def on_bar(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None:
        """A candle closed: poll the venue once per close time (not once per symbol), and
        with the kill switch engaged cancel the open entries before anything decides."""
        if close_time != self._last_poll:
            self._last_poll = close_time
            self.poll()
            if self._kill_switch_engaged is not None and self._kill_switch_engaged():
                self.cancel_entries()

    def cancel_entries(self) -> int:
        """Cancel every open order this book sent that is not a reduce-only exit; returns how
        many. Protective exits (stop-loss, take-profit) stay: they can only reduce the
        position, and cancelling them would leave it unprotected while trading is stopped."""
        cancelled = 0
        for cid, order in list(self._open.items()):
            if order.reduce_only:
                continue
            answer = self.cancel(cid)
            if self._listener is not None:
                self._listener.on_order_update(answer)
            cancelled += 1
        self.cancelled_by_kill_switch += cancelled
        return cancelled

    def quiet_until(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> int:
        return start  # a real venue is looked at on every candle

    def skip_bars(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> None:
        return None  # never called: nothing is quiet

    def snapshot(self) -> dict[str, Any]:
        """The venue's orders and positions are not checkpointed (after a restart the venue is
        the truth, read by reconciliation); where its funding was last read from is, with the
        payments already posted, so that none is posted twice."""
        return {
            "venue": "remote",
            "polls": self.polls,
            "funding_from": self._funding_from,
            "funding_seen": dict(self._funding_seen),
        }

    def restore(self, snap: Mapping[str, Any], known: Mapping[str, Order]) -> None:
        """After a restart: the journal's open orders (``known``) are followed again."""
        self.polls = int(snap.get("polls", 0))
        self._funding_from = int(snap.get("funding_from", self._funding_from))
        self._funding_seen = {str(k): int(t) for k, t in snap.get("funding_seen", {}).items()}
        self.follow(known.values())

    def follow(self, orders: Iterable[Order]) -> None:
        """Orders an earlier process sent (the journal's), or reconciliation adopted: the open
        ones are the venue's to look up and poll again, and the kill switch's to cancel."""
        still_open = [o for o in orders if not o.status.is_terminal]
        self.remote.track(still_open)
        for order in still_open:
            self._track(order)
