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

**Its memory survives a restart** (:class:`RouterState`, in the experiment's store:
``adapters/sql/experiments.py``): each live unit's equity ratio, the units whose entry was
trimmed, the symbols where the real account holds what the router opened, its counters, and
per symbol the last candle on which it asked for an order. A router built on the same store
(a restarted process, route mode) takes it up, so a unit that outlives the process keeps its
ratio (the real position it left is its target again: nothing is closed and reopened, nothing
traded for the difference), a trimmed entry stays untopped, and a position it opened stays its
own after the experiment stops. A restored ratio is kept by unit, not symbol: a run that
replays its days from the start (the main job does) meets the unit again when its arm opens it
and uses the stored ratio then; a stored unit that a candle after its draw does not find in
its symbol's slot is over, and forgotten. An order asked on a candle at or before the symbol's last
stored one is the same decision handed over again (a replay, a session resumed from an older
checkpoint): it trades the account it is given but is not counted twice (nor is a different
order there, where a replay's arms diverged from the first run's).

It is written when it changes, in its own transaction, not with the session's checkpoints:
the main job's replay commits only every ``checkpoint_every`` candles and is never resumed from
them (``DecisionPipeline.restore`` refuses), while the experiment's own records are written as
they happen; the router's state belongs with them. A changed state (a new unit's ratio) is
written before the order it sizes goes out (a restart asks the same target, so an order that
was sent is not sent again), and what the order's outcome changed (counters, a trim, an opened
symbol) at the candle's end: a crash between the two loses that outcome only (the order is
missing from the counters unless a replay sends it again, and at worst a trimmed entry is
topped up once, through the risk engine again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
#: a unit's (key or symbol, real/arm equity ratio, close time it was drawn at)
UnitScale = tuple[str, float, int]


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


@dataclass(frozen=True, slots=True)
class RouterState:
    """What a router remembers between candles, as stored (see the module docstring)."""

    #: unit -> (its symbol, the real account's equity over the arm's when it began, the close
    #: time it was drawn at): the units it follows, and those restored and not met yet
    units: dict[str, UnitScale] = field(default_factory=dict)
    #: units whose entry the risk engine trimmed (not topped up while they last)
    capped: frozenset[str] = frozenset()
    #: symbols where the real account holds a position the router opened
    opened: frozenset[str] = frozenset()
    #: symbol -> close time of the last candle on which an order was asked (and counted)
    routed: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    refused: int = 0
    trimmed: int = 0


class RouterStateStore(Protocol):
    """Where a router's state is kept, per experiment (``SqlExperimentStore``)."""

    def load_router_state(self, experiment: str) -> RouterState | None: ...

    def save_router_state(self, experiment: str, state: RouterState, at: int) -> None:
        """Replace the experiment's router state; ``at``: the candle's close time."""


class PositionRouter:
    """Copies the allocated arm's position on each symbol to ``real`` (see the module
    docstring). Feed it every candle after the experiment's feed. With ``store``, it takes up
    the state stored for the experiment (a restart) and stores each change."""

    def __init__(
        self,
        feed: ExperimentFeed,
        real: RealAccount,
        brackets: Brackets | None = None,
        *,
        store: RouterStateStore | None = None,
    ) -> None:
        self.feed = feed
        self.real = real
        self.brackets = brackets
        self.store = store
        self._scale: dict[str, UnitScale] = {}  # symbol -> its unit's (unit, ratio, drawn at)
        #: stored units not met yet in this process: symbol -> unit -> (unit, ratio, drawn at)
        self._resumed: dict[str, dict[str, UnitScale]] = {}
        self._capped: set[str] = set()  # units whose entry the risk engine trimmed
        self._opened: set[str] = set()  # symbols where the real account holds what it opened
        self._routed: dict[str, int] = {}  # symbol -> last close time an order was counted at
        self._dirty = False  # the state changed since it was stored
        self.sent = 0
        self.refused = 0
        self.trimmed = 0
        #: the state it took up from the store (None: it started fresh)
        self.resumed: RouterState | None = None
        if store is not None:
            self.resumed = store.load_router_state(feed.experiment.spec.name)
            if self.resumed is not None:
                self._restore(self.resumed)

    def state(self) -> RouterState:
        """What it remembers now (see :class:`RouterState`)."""
        units = {u: (s, r, at) for s, waiting in self._resumed.items()
                 for u, (_, r, at) in waiting.items()}  # fmt: skip
        units.update({u: (s, r, at) for s, (u, r, at) in self._scale.items()})
        return RouterState(units, frozenset(self._capped), frozenset(self._opened),
                           dict(self._routed), self.sent, self.refused, self.trimmed)  # fmt: skip

    def _restore(self, state: RouterState) -> None:
        for unit, (symbol, ratio, at) in state.units.items():
            self._resumed.setdefault(symbol, {})[unit] = (unit, ratio, at)
        self._capped = set(state.capped)
        self._opened = set(state.opened)
        self._routed = dict(state.routed)
        self.sent, self.refused, self.trimmed = state.sent, state.refused, state.trimmed

    def _save(self, at: int) -> None:
        if self._dirty and self.store is not None:
            self.store.save_router_state(self.feed.experiment.spec.name, self.state(), at)
        self._dirty = False

    def routes(self, symbol: str) -> bool:
        """Whether the router owns ``symbol``'s orders on the real account now: while the
        experiment runs, and after it while a unit holds the symbol or the real account holds
        a position the router opened there."""
        if self.feed.experiment.running or symbol in self.feed.slots:
            return True
        if symbol in self._opened and self.real.quantity(symbol) == 0.0:
            self._opened.discard(symbol)
            self._dirty = True
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
        if self.routes(symbol):
            self._route(symbol, close_time)
        self._save(close_time)

    def _route(self, symbol: str, close_time: int) -> None:
        """Move the real position on ``symbol`` toward its target (one order at most)."""
        target = self.target(symbol, close_time)
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
            intent = OrderIntent(symbol, _side(-current), size, reduce_only=True, reason=reason)
            self._send(intent, close_time)
            return
        if unit is None or (current != 0.0 and unit.unit in self._capped):
            return  # a trimmed entry is not topped up while its unit lasts
        self._enter(symbol, unit.arm, unit.unit, target, current, reason, close_time)

    def _enter(
        self,
        symbol: str,
        arm: str,
        unit: str,
        target: float,
        current: float,
        reason: str,
        close_time: int,
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
        outcome = self._send(intent, close_time)
        if outcome is not Sent.REFUSED and symbol not in self._opened:
            self._opened.add(symbol)
            self._dirty = True
        if outcome is Sent.TRIMMED and unit not in self._capped:
            self._capped.add(unit)
            self._dirty = True

    def target(self, symbol: str, close_time: int) -> float:
        """The real position ``symbol`` should have now: the allocated arm's, scaled (by the
        stored ratio where a restarted router meets a unit it held before)."""
        unit = self.feed.slots.get(symbol)
        current = None if unit is None else unit.unit
        known = self._scale.get(symbol)
        if known is not None and known[0] != current:
            del self._scale[symbol]  # the unit ended: a unit key never comes back in a process
            self._capped.discard(known[0])
            known, self._dirty = None, True
        waiting = self._resumed.get(symbol, {})
        if current is not None and current in waiting and known is None:
            known = self._scale[symbol] = waiting.pop(current)  # met again: its stored ratio
            self._dirty = True
        for ended in [u for u, (_, _, at) in waiting.items() if at <= close_time]:
            del waiting[ended]  # drawn before this candle and not its slot: over
            self._capped.discard(ended)
            self._dirty = True
        if unit is None:
            return 0.0
        book = self.feed.books[unit.arm]
        if known is None:
            ratio = self.real.equity / book.equity if book.equity > 0 else 0.0
            known = self._scale[symbol] = (unit.unit, ratio, unit.at)
            self._dirty = True
        return book.quantity(symbol) * known[1]

    def _send(self, intent: OrderIntent, close_time: int) -> Sent:
        """Send ``intent`` (the state it depends on stored first) and count it, unless an
        earlier process counted an order on this candle or a later one of the symbol."""
        self._save(close_time)
        outcome = self.real.send(intent)
        last = self._routed.get(intent.symbol)
        if last is not None and close_time <= last:
            return outcome  # handed over again (a replay): the same decision, counted once
        self._routed[intent.symbol] = close_time
        self._dirty = True
        if outcome is Sent.REFUSED:
            self.refused += 1
        else:
            self.sent += 1
            self.trimmed += outcome is Sent.TRIMMED
        return outcome


def _side(quantity: float) -> Side:
    return Side.BUY if quantity > 0 else Side.SELL
