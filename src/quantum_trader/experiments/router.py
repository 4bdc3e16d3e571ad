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

Arms never net against each other: an arm long and another short on the same symbol each
keep their own PnL on their own ledger, and the real position is the allocated arm's alone
(``tests/experiments/test_router.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from quantum_trader.domain.orders import OrderIntent, OrderType, Side
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.experiments.feed import ExperimentFeed
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.risk.decision import Outcome
from quantum_trader.risk.engine import RiskEngine, approved_intent

#: an arm's stop-loss and take-profit on a symbol (None: none known)
Brackets = Callable[[str, str], tuple[float | None, float | None]]


class RealAccount(Protocol):
    @property
    def equity(self) -> float: ...

    def quantity(self, symbol: str) -> float: ...

    def tradable(self, symbol: str, quantity: float) -> float:
        """``quantity`` floored to what the venue can trade (0: under one step)."""

    def send(self, intent: OrderIntent) -> bool:
        """Send ``intent`` if the risk engine approves it; True when an order went out."""


@dataclass(slots=True)
class RiskCheckedAccount:
    """The real account: its portfolio, its order manager, every order through its risk
    engine (a trim is respected, a rejection sends nothing)."""

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

    def send(self, intent: OrderIntent) -> bool:
        decision = self.risk.evaluate(intent)
        approved = approved_intent(decision)
        if approved is None or decision.outcome is Outcome.REJECTED:
            return False
        spec = self.orders.specs[approved.symbol]
        quantity = spec.floor_quantity(approved.quantity)
        if quantity <= 0.0:
            return False
        self.orders.submit(approved.symbol, approved.side, quantity, OrderType.MARKET,
                           reduce_only=approved.reduce_only, tag=approved.reason)  # fmt: skip
        return True


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
        self.sent = 0
        self.refused = 0

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
        stop, take = (None, None)
        if self.brackets is not None and unit is not None:
            stop, take = self.brackets(unit.arm, symbol)
        size = self.real.tradable(symbol, abs(target) - abs(current))
        if size <= 0.0:
            return
        intent = OrderIntent(symbol, _side(target), size, stop_loss=stop, take_profit=take,
                             reason=reason)  # fmt: skip
        self._send(intent)

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

    def _send(self, intent: OrderIntent) -> None:
        if self.real.send(intent):
            self.sent += 1
        else:
            self.refused += 1


def _side(quantity: float) -> Side:
    return Side.BUY if quantity > 0 else Side.SELL
