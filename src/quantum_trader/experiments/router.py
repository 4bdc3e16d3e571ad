"""Routes an experiment's allocation to the real account: only the allocated arm trades it.

Every arm trades its own sub-ledger (``experiments/feed.py``); the real (paper or live)
account holds, per symbol, the position of the arm whose unit holds that symbol's slot, and
nothing where no unit does. After each candle the router compares the real position with its
target, the allocated arm's quantity scaled by the ratio of the real account's equity to the
arm's taken when the unit began (fixed for the unit's life, so that equity drifting apart does
not trade the difference every candle), and sends the difference as a market order through
the real account's risk engine: reduce-only when it shrinks or closes the position, an entry
carrying the arm's stop-loss and take-profit when it opens or grows one. A sign change closes
first and opens on the next candle. The real account fills a candle after its arm did
(a market order fills at the next open): its PnL follows the arm's, not to the cent.

An entry the risk engine trims is not topped up on later candles while the unit lasts (that
would take, in steps, the risk a rule refused in one order); one it rejects (the kill switch,
a limit) is asked again on the next candle, as a decision would be, and counted each time.
The router routes a symbol while the experiment runs, and after it stops while a unit still
holds the symbol or the real account still holds what the router opened there; then it lets
the symbol go (:meth:`PositionRouter.routes`).

Arms never net against each other: an arm long and another short on the same symbol each
keep their own PnL on their own ledger, and the real position is the allocated arm's alone
(``tests/experiments/test_router.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from quantum_trader.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from quantum_trader.execution.order_manager import Bracket, OrderManager
from quantum_trader.experiments.feed import ExperimentFeed
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.risk.decision import Outcome
from quantum_trader.risk.engine import RiskEngine, approved_intent

#: an arm's stop-loss and take-profit on a symbol (None: none known)
Brackets = Callable[[str, str], tuple[float | None, float | None]]


class Sent(Enum):
    """What became of an order the router asked for."""

    SENT = "sent"  # approved as asked and sent
    TRIMMED = "trimmed"  # the risk engine trimmed it; the rest was sent
    REFUSED = "refused"  # rejected by the risk engine (or the venue), or below one step


class RealAccount(Protocol):
    @property
    def equity(self) -> float: ...

    def quantity(self, symbol: str) -> float: ...

    def tradable(self, symbol: str, quantity: float) -> float:
        """``quantity`` floored to what the venue can trade (0: under one step)."""

    def send(self, intent: OrderIntent) -> Sent:
        """Send ``intent`` if the risk engine approves it (perhaps trimmed)."""


@dataclass(slots=True)
class RiskCheckedAccount:
    """The real account: its portfolio, its order manager, every order through its risk
    engine (a trim is respected, a rejection sends nothing). An entry carries its stop-loss
    and take-profit as a bracket, rounded toward the entry as the decision path rounds them
    (``decision/orders.py``), and its leverage; a reduce-only order keeps the position's."""

    portfolio: Portfolio
    orders: OrderManager
    risk: RiskEngine

    @property
    def equity(self) -> float:
        return self.portfolio.equity

    def quantity(self, symbol: str) -> float:
        return self.portfolio.quantity(symbol)

    def tradable(self, symbol: str, quantity: float) -> float:
        return self.orders.specs[symbol].floor_quantity(quantity)

    def send(self, intent: OrderIntent) -> Sent:
        decision = self.risk.evaluate(intent)
        approved = approved_intent(decision)
        if approved is None or decision.outcome is Outcome.REJECTED:
            return Sent.REFUSED
        spec = self.orders.specs[approved.symbol]
        quantity = spec.floor_quantity(approved.quantity)
        if quantity <= 0.0:
            return Sent.REFUSED
        bracket = Bracket.for_entry(approved, spec)
        order = self.orders.submit(
            approved.symbol, approved.side, quantity, OrderType.MARKET,
            reduce_only=approved.reduce_only, bracket=bracket, tag=approved.reason,
            leverage=None if approved.reduce_only else approved.leverage,
        )  # fmt: skip
        if order.status is OrderStatus.REJECTED:
            return Sent.REFUSED
        return Sent.TRIMMED if decision.outcome is Outcome.TRIMMED else Sent.SENT


def working_brackets(orders: OrderManager, symbol: str) -> tuple[float | None, float | None]:
    """The stop-loss and take-profit working on ``symbol`` in ``orders`` (an arm's account):
    its open reduce-only stop-market and limit orders."""
    stop = take = None
    for order in orders.orders.values():
        if order.symbol != symbol or not order.reduce_only or order.status.is_terminal:
            continue
        if order.order_type is OrderType.STOP_MARKET:
            stop = order.stop_price
        elif order.order_type is OrderType.LIMIT:
            take = order.price
    return stop, take


class PositionRouter:
    """Copies the allocated arm's position on each symbol to ``real`` (see the module
    docstring). Feed it every candle after the experiment's feed."""

    def __init__(
        self, feed: ExperimentFeed, real: RealAccount, brackets: Brackets | None = None
    ) -> None:
        self.feed = feed
        self.real = real
        self.brackets = brackets
        self._scale: dict[str, tuple[str, float]] = {}  # symbol -> (unit, real/arm equity)
        self._capped: set[str] = set()  # units whose entry the risk engine trimmed
        self._opened: set[str] = set()  # symbols where the real account holds what it opened
        self.sent = 0
        self.refused = 0
        self.trimmed = 0

    def routes(self, symbol: str) -> bool:
        """Whether the router owns ``symbol``'s orders on the real account now: while the
        experiment runs, and after it while a unit holds the symbol or the real account holds
        a position the router opened there."""
        if self.feed.experiment.running or symbol in self.feed.slots:
            return True
        if symbol in self._opened and self.real.quantity(symbol) == 0.0:
            self._opened.discard(symbol)
        return symbol in self._opened

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
        if not self.routes(symbol):
            return
        target = self.target(symbol)
        current = self.real.quantity(symbol)
        if target * current > 0.0 and self.real.tradable(symbol, abs(target - current)) <= 0.0:
            return  # less than one step apart: nothing to trade
        if target == current == 0.0:
            return
        unit = self.feed.slots.get(symbol)
        reason = f"experiment {self.feed.experiment.spec.name}"
        if unit is not None:
            reason += f", unit {unit.unit} ({unit.arm})"
        if current != 0.0 and (target * current <= 0.0 or abs(target) < abs(current)):
            # shrink or close (a sign change closes now and opens on the next candle)
            size = abs(current) if target * current <= 0.0 else abs(current) - abs(target)
            self._send(OrderIntent(symbol, _side(-current), size, reduce_only=True, reason=reason))
            return
        if unit is None or (current != 0.0 and unit.unit in self._capped):
            return  # a trimmed entry is not topped up while its unit lasts
        self._enter(symbol, unit.arm, unit.unit, target, current, reason)

    def _enter(
        self, symbol: str, arm: str, unit: str, target: float, current: float, reason: str
    ) -> None:
        """Open or grow the real position toward ``target`` with the arm's brackets and, for a
        new position, the arm's leverage."""
        size = self.real.tradable(symbol, abs(target) - abs(current))
        if size <= 0.0:
            return
        stop, take = (None, None) if self.brackets is None else self.brackets(arm, symbol)
        leverage = self.feed.books[arm].position(symbol).leverage
        intent = OrderIntent(symbol, _side(target), size, stop_loss=stop, take_profit=take,
                             leverage=leverage, reason=reason)  # fmt: skip
        outcome = self._send(intent)
        if outcome is not Sent.REFUSED:
            self._opened.add(symbol)
        if outcome is Sent.TRIMMED:
            self._capped.add(unit)

    def target(self, symbol: str) -> float:
        """The real position ``symbol`` should have now: the allocated arm's, scaled."""
        unit = self.feed.slots.get(symbol)
        if unit is None:
            self._scale.pop(symbol, None)
            return 0.0
        book = self.feed.books[unit.arm]
        known = self._scale.get(symbol)
        if known is None or known[0] != unit.unit:
            ratio = self.real.equity / book.equity if book.equity > 0 else 0.0
            known = self._scale[symbol] = (unit.unit, ratio)
        return book.quantity(symbol) * known[1]

    def _send(self, intent: OrderIntent) -> Sent:
        outcome = self.real.send(intent)
        if outcome is Sent.REFUSED:
            self.refused += 1
        else:
            self.sent += 1
            self.trimmed += outcome is Sent.TRIMMED
        return outcome


def _side(quantity: float) -> Side:
    return Side.BUY if quantity > 0 else Side.SELL
