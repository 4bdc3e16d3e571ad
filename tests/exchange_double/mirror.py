"""Mirror mode of the exchange double: the double's fills are the simulated exchange's.

:class:`SimulatorMirror` holds a :class:`SimulatedExchange` (with its own account book) and is
fed the same candles as the session under test, one close time at a time, before the session
sees them — the venue has the candle before the engine does, as in the live phase. Each order
the double accepts over HTTP is handed to that simulator as the double received it (symbol,
side, type, quantity, price, reduce-only, client id: what came over the wire, nothing from the
engine's side); what the simulator then does with it at the next candles — a fill at its price,
quantity, fee and time, a reduce-only order cancelled when the position closes, a margin
refusal — is booked in the double's :class:`~.book.Book` as the double's own trades and
statuses, which ccxt then reads back (``/fapi/v1/order``, ``/fapi/v1/userTrades``).

So a session over the double is filled exactly as a session on the simulator, by construction,
and whatever differs between the two is the venue path: ccxt and its precision rules, the
HTTP answers, :class:`~quantum_trader.execution.ccxt_venue.CcxtVenue`'s mapping and polling,
:class:`~quantum_trader.execution.venue_book.VenueBook`'s posting to the account book.

``perturb`` alters a fill before it is booked (a test that the comparison can fail).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from quantum_trader.domain.orders import Fill, Order, OrderType, Side
from quantum_trader.execution.instruments import SymbolSpec
from quantum_trader.execution.simulated.exchange import ExchangeConfig, SimulatedExchange
from quantum_trader.execution.simulated.funding import FundingConfig, FundingSchedule
from quantum_trader.portfolio.ledger import LedgerKind
from quantum_trader.portfolio.portfolio import Portfolio
from tests.exchange_double.book import Book, VenueOrder

FillPerturbation = Callable[[Fill], Fill]


class SimulatorMirror:
    """Attach with ``SimulatorMirror(double.book, ...)``; feed it with :meth:`on_bar`."""

    def __init__(
        self,
        book: Book,
        specs: Mapping[str, SymbolSpec],
        *,
        initial_balance: float,
        first_open: int,
        exchange: ExchangeConfig | None = None,
        funding: FundingConfig | None = None,
        perturb: FillPerturbation | None = None,
    ) -> None:
        self.book = book
        self.portfolio = Portfolio("exchange-double-mirror")
        self.portfolio.deposit(initial_balance, first_open, "initial balance")
        schedule = FundingSchedule(funding or FundingConfig(enabled=False), {})
        self.exchange = SimulatedExchange(specs, self.portfolio, schedule, exchange)
        self.exchange.set_listener(self)
        self.perturb = perturb
        self._now_ms = first_open
        self.fills: list[Fill] = []  # as booked in the double (after ``perturb``)
        book.mirror = self

    @property
    def now_ms(self) -> int:
        return self._now_ms

    # ------------------------------------------------------------------ the candles
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
        """One closed candle: the simulator matches it (its fills reach the book), then its
        account is marked at the close, as a session's handlers do."""
        with self.book.lock:
            self._now_ms = close_time
            seen = len(self.portfolio.ledger)
            self.exchange.on_bar(symbol, open_time, close_time, o, h, lo, c, v)
            self.portfolio.on_bar(symbol, open_time, close_time, o, h, lo, c, v)
            self.book.marks[symbol] = c
            # the funding the simulator settled is the double's income history
            for entry in self.portfolio.ledger.entries[seen:]:
                if entry.kind is LedgerKind.FUNDING:
                    self.book.pay_funding(entry.symbol, entry.amount, entry.time)

    # ------------------------------------------------------------------ the book's orders
    def accept(self, order: VenueOrder) -> str:
        kind = OrderType(order.type)
        answer = self.exchange.submit(
            Order(
                order.client_order_id,
                order.symbol,
                Side(order.side),
                kind,
                order.quantity,
                order.time,
                order.price if kind is OrderType.LIMIT else None,
                None,
                order.reduce_only,
            )
        )
        return answer.reason if answer.status.is_terminal else ""

    def cancel(self, client_order_id: str) -> None:
        self.exchange.cancel(client_order_id)

    # ------------------------------------------------------------------ the simulator's reports
    def on_fill(self, fill: Fill, order: Order) -> None:
        booked = self.perturb(fill) if self.perturb is not None else fill
        self.fills.append(booked)
        self.book.mirror_fill(
            fill.client_order_id,
            booked.quantity,
            booked.price,
            booked.fee,
            booked.time,
            booked.is_maker,
        )

    def on_order_update(self, order: Order) -> None:
        if order.status.is_terminal:
            self.book.mirror_status(
                order.client_order_id, order.status.value, order.updated_at or self._now_ms
            )
