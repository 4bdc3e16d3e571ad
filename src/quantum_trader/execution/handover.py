"""From the replay's paper account to a real venue, in one session.

``run --venue testnet|live`` replays the last ``QT_REPLAY_DAYS`` on the simulated exchange (the
models, the intelligence modules and the agents warm up on them, as in every run), then goes on
with live candles. Orders for the live candles go to the real venue; the replay's are paper.
:class:`PaperThenVenue` is the session's venue for both: the simulated exchange until
:meth:`PaperThenVenue.go_live`, the :class:`~quantum_trader.execution.venue_book.VenueBook`
after it.

At the handover the venue becomes the truth of the account, never the paper book (the rule
"never assume flat"):

1. the paper exchange's resting orders (brackets) are cancelled there; nothing was sent for them;
2. the paper positions are closed on the book at their last mark, with no fee, each trade's exit
   reason saying so; they never existed on the venue;
3. the book's wallet balance is set to the venue's with one ledger entry for the difference
   (``handover: venue balance``);
4. each position the venue holds is adopted on the book at the venue's entry price (a fill of
   the venue's size without fee, ``handover: adopted from venue``), so that exits, risk and
   exposure see it;
5. the book's peak and the day's starting equity restart from its equity (the risk engine's
   breaker peaks too: ``RiskEngine.rebase_account``, called by the app), so the venue's balance
   is not read as a drawdown or a gain.

Every step is in :class:`Handover`, which the run reports and logs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from quantum_trader.domain.columns import CandleColumns
from quantum_trader.domain.orders import Order, Side
from quantum_trader.domain.positions import Position
from quantum_trader.execution.simulated.exchange import SimulatedExchange
from quantum_trader.execution.venue import ExecutionListener
from quantum_trader.execution.venue_book import VenueBook
from quantum_trader.portfolio.portfolio import Portfolio

HANDOVER_EXIT = "replay ended: paper position closed before the venue took over"


@dataclass(slots=True)
class Handover:
    """What the handover did (see the module docstring)."""

    at: int
    paper_orders_cancelled: int = 0
    paper_positions_closed: list[str] = field(default_factory=list)
    balance_before: float = 0.0
    venue_balance: float = 0.0
    adopted: dict[str, float] = field(default_factory=dict)  # symbol: signed quantity

    def summary(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "paper_orders_cancelled": self.paper_orders_cancelled,
            "paper_positions_closed": self.paper_positions_closed,
            "balance": f"{self.balance_before:,.2f} (paper) → {self.venue_balance:,.2f} (venue)",
            "adopted_positions": self.adopted,
        }


class PaperThenVenue:
    """The session venue: paper until :meth:`go_live`, the real venue after it."""

    def __init__(
        self,
        paper: SimulatedExchange,
        portfolio: Portfolio,
        build_live: Callable[[], VenueBook],
    ) -> None:
        self.paper = paper
        self.portfolio = portfolio
        self._build_live = build_live
        self.live: VenueBook | None = None
        self.handover: Handover | None = None
        self._listener: ExecutionListener | None = None

    @property
    def active(self) -> SimulatedExchange | VenueBook:
        return self.paper if self.live is None else self.live

    @property
    def funding_payments(self) -> int:
        return self.paper.funding_payments + (self.live.funding_payments if self.live else 0)

    def go_live(self, now: int) -> Handover:
        """Hand the account over to the venue (module docstring); once."""
        if self.live is not None:
            raise RuntimeError("the session is already on the venue")
        report = Handover(at=now, balance_before=self.portfolio.wallet_balance)
        for order in self.paper.open_orders():
            self.paper.cancel(order.client_order_id)
            report.paper_orders_cancelled += 1
        for symbol, position in sorted(self.portfolio.positions().items()):
            if position.quantity != 0:
                self._close_on_book(symbol, position, now)
                report.paper_positions_closed.append(symbol)
        live = self._build_live()
        report.venue_balance = live.balance()
        difference = report.venue_balance - self.portfolio.wallet_balance
        if difference != 0.0:
            self.portfolio.deposit(difference, now, "handover: venue balance")
        for symbol, position in sorted(live.positions().items()):
            self._adopt(live, symbol, position, now)
            report.adopted[symbol] = position.quantity
        self.portfolio.rebase()  # the venue's balance is a new start, not a gain or a loss
        if self._listener is not None:
            live.set_listener(self._listener)
        self.live, self.handover = live, report
        return report

    def _close_on_book(self, symbol: str, position: Position, now: int) -> None:
        mark = self.portfolio.mark_price(symbol) or position.entry_price
        side = Side.SELL if position.quantity > 0 else Side.BUY
        self.portfolio.apply_fill(
            symbol, side, abs(position.quantity), mark, 0.0, now, "handover", "", HANDOVER_EXIT
        )

    def _adopt(self, live: VenueBook, symbol: str, position: Position, now: int) -> None:
        spec = live.specs.get(symbol)
        self.portfolio.set_leverage(
            symbol, position.leverage, spec.maintenance_margin_rate if spec else 0.0
        )
        side = Side.BUY if position.quantity > 0 else Side.SELL
        self.portfolio.apply_fill(
            symbol,
            side,
            abs(position.quantity),
            position.entry_price,
            0.0,
            now,
            "handover: adopted from venue",
            "adopted",
        )

    # ------------------------------------------------------------------ Venue port
    def set_listener(self, listener: ExecutionListener) -> None:
        self._listener = listener
        self.active.set_listener(listener)

    def set_leverage(self, symbol: str, leverage: float) -> None:
        self.active.set_leverage(symbol, leverage)

    def leverage(self, symbol: str) -> float:
        return self.active.leverage(symbol)

    def submit(self, order: Order, good_till: int | None = None) -> Order:
        return self.active.submit(order, good_till)

    def cancel(self, client_order_id: str) -> Order:
        return self.active.cancel(client_order_id)

    def fetch_order(self, client_order_id: str) -> Order | None:
        return self.active.fetch_order(client_order_id)

    def positions(self) -> dict[str, Position]:
        return self.active.positions()

    def balance(self) -> float:
        return self.active.balance()

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
        self.active.on_bar(symbol, open_time, close_time, o, h, lo, c, v)

    def quiet_until(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> int:
        return self.active.quiet_until(symbol, bars, start, stop)

    def skip_bars(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> None:
        self.active.skip_bars(symbol, bars, start, stop)

    def snapshot(self) -> dict[str, Any]:
        snap = self.paper.snapshot()
        if self.live is not None:
            snap["venue_book"] = self.live.snapshot()
        return snap

    def restore(self, snap: Mapping[str, Any], known: Mapping[str, Order]) -> None:
        self.paper.restore(snap, known)
