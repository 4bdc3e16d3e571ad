"""Order management: deterministic client order ids, idempotent submission, the order state
machine, protective orders, and the journal of every order and fill for persistence.

Client order ids are ``f"{run_id}-{symbol}-{seq}"`` with one sequence per run, restored from the
checkpoint on resume, so a resumed replay issues exactly the ids an uninterrupted one would.
On a real venue (:meth:`OrderManager.use_intent_ids`, from the handover on) they are derived from
the intent instead (``client_ids.py``): the same intent decided again after a restart is the
same id. Submitting a known client order id returns the order already held and never creates a
second. After a venue timeout the order is looked up by its client order id before anything is
re-sent.

Write-ahead (``write_ahead``, set where a crash must not lose a sent order): the new order is
handed to it, to be committed, before its request; until the venue answers it is *unsent* (in
the snapshot). After a restart :meth:`OrderManager.resend_unsent` looks each unsent intent up by
its id and sends it, under the same id, only when the venue never received it.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from typing import Any

from quantum_trader.bus import topics
from quantum_trader.bus.port import EventBus
from quantum_trader.clock.clock import Clock
from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.errors import OrderRejectedError
from quantum_trader.domain.orders import (
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    build_order,
)
from quantum_trader.domain.positions import Trade
from quantum_trader.execution.client_ids import IntentIds, intent_role
from quantum_trader.execution.events import (
    FILL_EVENT_KEYS,
    ORDER_KEYS,
    TRADE_KEYS,
    fill_event_values,
    order_values,
    trade_values,
)
from quantum_trader.execution.instruments import SymbolSpec
from quantum_trader.execution.validation import order_problem
from quantum_trader.execution.venue import Venue
from quantum_trader.portfolio.seen_fills import SeenFills
from quantum_trader.status.registry import ModuleHandle

MarkSource = Callable[[str], float]
_INF = float("inf")
# the wire names of the execution topics, looked up once (published on every order and fill)
_ORDER_SUBMITTED = topics.ORDER_SUBMITTED.name
_ORDER_UPDATED = topics.ORDER_UPDATED.name
_ORDER_FILLED = topics.ORDER_FILLED.name
_TRADE_CLOSED = topics.TRADE_CLOSED.name


@dataclass(frozen=True, slots=True)
class Bracket:
    """Protective orders placed when the entry fills: reduce-only stop-loss and take-profit."""

    stop_loss: float | None = None
    take_profit: float | None = None

    @classmethod
    def for_entry(cls, intent: OrderIntent, spec: SymbolSpec) -> Bracket | None:
        """An approved entry's stop-loss and take-profit on the venue's price grid (None for an
        exit). Rounded toward the entry price: the stop never ends up further than the sized
        risk."""
        if intent.reduce_only:
            return None
        long = intent.side.sign > 0
        stop, target = intent.stop_loss, intent.take_profit
        return cls(
            stop_loss=None if stop is None else spec.round_price(stop, up=long),
            take_profit=None if target is None else spec.round_price(target, up=not long),
        )


class OrderManager:
    """Owns the orders of one run; the venue is a port (simulated or ccxt)."""

    def __init__(
        self,
        venue: Venue,
        specs: Mapping[str, SymbolSpec],
        clock: Clock,
        bus: EventBus,
        run_id: str,
        mark: MarkSource,
        status: ModuleHandle | None = None,
        lookup_retries: int = 1,
    ) -> None:
        self.venue = venue
        self.specs = dict(specs)
        self.clock = clock
        self.bus = bus
        self.run_id = run_id
        self._mark = mark
        self._status = status
        self._lookup_retries = lookup_retries
        lev = getattr(venue, "leverage", None)  # optional in the Venue port
        self._venue_leverage: Callable[[str], float] | None = lev if callable(lev) else None
        self._seq = 0
        self._id_prefix: dict[str, str] = {}
        self._orders: dict[str, Order] = {}
        self._brackets: dict[str, Bracket] = {}
        self.pending_orders: dict[str, Order] = {}
        self.pending_fills: list[Fill] = []
        self.fill_log: list[Fill] = []  # fills of this session, in order
        self.fills = 0
        #: ids of the fills heard: a venue may report one again (stream and poll, reconnect,
        #: restart); heard twice it would be journalled, published and bracketed twice.
        #: Bounded by reconciliation (:meth:`forget_fills_before`)
        self._fill_ids = SeenFills()
        #: orders whose fills reconciliation adopted: the venue's copy of such an order may be
        #: behind the journal, and its next refresh reports those fills again (``CcxtVenue``
        #: reads an order's trades past the quantity its copy holds); kept until the venue
        #: reports the order finished
        self._held: set[str] = set()
        self.duplicate_fills = 0
        #: the venue phase's id scheme (None: the replay's ``{run_id}-{symbol}-{seq}``)
        self._intent_ids: IntentIds | None = None
        self._intent_ranks: dict[str, int] = {}
        #: committed intents (``write_ahead``) whose request has no answer yet, by client id
        self._unsent: set[str] = set()
        #: commits the new order before its request is sent (None: nothing is committed first)
        self.write_ahead: Callable[[Order], None] | None = None
        venue.set_listener(self)

    # ------------------------------------------------------------------ ids and lookups
    def next_client_order_id(self, symbol: str) -> str:
        self._seq += 1
        prefix = self._id_prefix.get(symbol)
        if prefix is None:
            prefix = self._id_prefix[symbol] = f"{self.run_id}-{symbol}-"
        return f"{prefix}{self._seq}"

    def use_intent_ids(self, ids: IntentIds) -> None:
        """From now on derive ids from the intent (``client_ids.py``): the real venue's phase."""
        self._intent_ids = ids

    @property
    def id_prefixes(self) -> tuple[str, ...]:
        """The client-id prefixes that mark an order as ours: this run's, and the lineage's
        once intent ids are on (orders of an earlier run on the same account included)."""
        mine = (f"{self.run_id}-",)
        return mine if self._intent_ids is None else (*mine, self._intent_ids.prefix)

    def _intent_id(
        self, ids: IntentIds, symbol: str, side: Side, role: str, decision: DecisionRef | None
    ) -> str:
        """The id of this intent; its rank counts the orders of the same decision, role and
        side in this process (a restarted process decides the candle again from rank 0)."""
        decision_id = (
            decision.decision_id if decision is not None else f"{symbol}@{self.clock.now()}"
        )
        key = f"{symbol}|{decision_id}|{role}|{side.value}"
        rank = self._intent_ranks.get(key, 0)
        self._intent_ranks[key] = rank + 1
        return ids.client_order_id(symbol, decision_id, role, side.value, rank)

    @property
    def orders(self) -> dict[str, Order]:
        return dict(self._orders)

    def get(self, client_order_id: str) -> Order | None:
        return self._orders.get(client_order_id)

    # ------------------------------------------------------------------ submission
    def submit(
        self,
        symbol: str,
        side: Side,
        quantity: float,
        order_type: OrderType = OrderType.MARKET,
        *,
        price: float | None = None,
        stop_price: float | None = None,
        reduce_only: bool = False,
        leverage: float | None = None,
        client_order_id: str | None = None,
        bracket: Bracket | None = None,
        good_till: int | None = None,
        tag: str = "",
        decision: DecisionRef | None = None,
    ) -> Order:
        """Validate and send an order. Returns it as held (NEW, FILLED, REJECTED …).

        A rule violation gives a REJECTED order with the reason (persisted, never filled); a
        non-positive or non-finite quantity, which no order can carry, raises
        :class:`OrderRejectedError`.
        """
        if client_order_id is not None and client_order_id in self._orders:
            return self._orders[client_order_id]
        ids = self._intent_ids
        if client_order_id is None and ids is not None:
            role = intent_role(reduce_only, tag)
            client_order_id = self._intent_id(ids, symbol, side, role, decision)
            held = self._orders.get(client_order_id)
            if held is not None:  # the same intent, decided again (a restart): never a second
                return self._send_unsent(held) if client_order_id in self._unsent else held
        lev = leverage if leverage is not None else self._current_leverage(symbol)
        problem = order_problem(
            self.specs,
            symbol,
            quantity,
            order_type,
            price,
            stop_price,
            reduce_only,
            lev,
            self._mark(symbol) if symbol in self.specs else 0.0,
        )
        if problem and not (isinstance(quantity, int | float) and 0 < quantity < _INF):
            self._count("orders_rejected")
            raise OrderRejectedError(problem)
        cid = client_order_id or self.next_client_order_id(symbol)
        now = self.clock.now()
        # positional, and the faster constructor once the rules passed: this runs for every order
        make = Order if problem else build_order
        order = make(
            cid,
            symbol,
            side,
            order_type,
            float(quantity),
            now,
            price if price is not None and price > 0 else None,
            stop_price if stop_price is not None and stop_price > 0 else None,
            reduce_only,
            OrderStatus.NEW,
            0.0,
            0.0,
            None,
            tag,
            decision,
        )
        if not problem and leverage is not None:
            try:
                self.venue.set_leverage(symbol, leverage)
            except OrderRejectedError as exc:
                problem = str(exc)
        if problem:
            self._count("orders_rejected")
            return self._record(
                order.transition(OrderStatus.REJECTED, now, problem), submitted=True
            )
        if bracket is not None and (bracket.stop_loss or bracket.take_profit):
            self._brackets[cid] = bracket
        if self._status is not None:
            self._status.count("orders_submitted")
        if self.write_ahead is not None:
            self._unsent.add(cid)
            self._orders[cid] = self.pending_orders[cid] = order
            self.write_ahead(order)
        accepted = self._send(order, good_till)
        self._unsent.discard(cid)
        if accepted.status is OrderStatus.REJECTED:
            self._count("orders_rejected")
        return self._record(accepted, submitted=True)

    def _send(self, order: Order, good_till: int | None) -> Order:
        """Send once; after a timeout look the order up by client id before any re-send."""
        attempts = 0
        while True:
            try:
                return self.venue.submit(order, good_till)
            except TimeoutError:
                known = self.venue.fetch_order(order.client_order_id)
                if known is not None:
                    return known
                attempts += 1
                if attempts > self._lookup_retries:
                    raise

    def resend_unsent(self) -> list[Order]:
        """After a restart: every intent committed before its request was answered, looked up
        by its client id and sent (under that id) only when the venue never received it."""
        return [self._send_unsent(self._orders[cid]) for cid in sorted(self._unsent)]

    @property
    def unsent(self) -> frozenset[str]:
        return frozenset(self._unsent)

    def _send_unsent(self, order: Order) -> Order:
        cid = order.client_order_id
        found = self.venue.fetch_order(cid)  # never a blind re-send: the venue may have it
        answer = found if found is not None else self._send(order, None)
        self._unsent.discard(cid)
        if answer.status is OrderStatus.REJECTED:
            self._count("orders_rejected")
        return self._record(answer, submitted=found is None)

    def cancel(self, client_order_id: str) -> Order:
        order = self.venue.cancel(client_order_id)
        return self._record(order, submitted=False)

    def _current_leverage(self, symbol: str) -> float:
        lev = self._venue_leverage
        if lev is not None and symbol in self.specs:
            return float(lev(symbol))
        return 1.0

    # ------------------------------------------------------------------ venue callbacks
    def on_order_update(self, order: Order) -> None:
        if order.status.is_terminal:
            self._held.discard(order.client_order_id)
        self._record(order, submitted=False)

    def on_fill(self, fill: Fill, order: Order) -> None:
        """A venue's fill, taken once by its id: a repeat changes nothing and is counted."""
        if order.status.is_terminal:
            self._held.discard(order.client_order_id)
        if not self._fill_ids.add(fill.fill_id, fill.time, fill.client_order_id):
            self.duplicate_fills += 1
            self._count("fills_duplicate")
            return
        self.fills += 1
        if self._status is not None:
            self._status.count("fills")
        self.pending_fills.append(fill)
        self.fill_log.append(fill)
        cid = order.client_order_id
        self._orders[cid] = order
        self.pending_orders[cid] = order
        # one event per fill: the fill, with the order's new state (no separate order update)
        self.bus.publish_record(
            _ORDER_FILLED,
            FILL_EVENT_KEYS,
            fill_event_values(fill, order),
            source="execution",
        )
        if self._brackets:
            bracket = self._brackets.pop(cid, None)
            if bracket is not None and order.status is OrderStatus.FILLED:
                self._place_bracket(order, bracket)

    # ------------------------------------------------------------------ fill ids kept
    @property
    def fill_ids(self) -> frozenset[str]:
        """The ids of the fills heard and not forgotten (reconciliation's journal side)."""
        return self._fill_ids.ids()

    @property
    def fills_from(self) -> int:
        """Every fill dated at or after this time that was heard is among :attr:`fill_ids`
        (earlier ones: only those of :meth:`orders_read_again` at the time they were cut)."""
        return self._fill_ids.horizon

    def adopt_fill(self, fill: Fill, order: Order) -> None:
        """A fill reconciliation adopted: taken as :meth:`on_fill`; one new to the journal
        holds its order's fills (``_held``): the venue's copy of the order may not have it."""
        new = fill.fill_id not in self._fill_ids
        self.on_fill(fill, order)
        if new:
            self._held.add(fill.client_order_id)

    def orders_read_again(self) -> set[str]:
        """The orders whose fills the venue may report again whatever their age: those the
        journal holds open (``CcxtVenue.poll`` reads an open order's trades from its first
        whenever its copy is behind, as after a restart) and the held ones."""
        still_open = {c for c, o in self._orders.items() if not o.status.is_terminal}
        return still_open | self._held

    def forget_fills_before(self, horizon: int, keep_orders: Container[str]) -> int:
        """Forget the ids of fills dated before ``horizon`` but those of ``keep_orders``
        (``SeenFills.forget_before``); the caller says why none can be reported again."""
        return self._fill_ids.forget_before(horizon, keep_orders)

    def on_trade_closed(self, trade: Trade) -> None:
        if self._status is not None:
            self._status.count("trades_closed")
        self.bus.publish_record(_TRADE_CLOSED, TRADE_KEYS, trade_values(trade), source="execution")

    def _place_bracket(self, entry: Order, bracket: Bracket) -> None:
        exit_side = entry.side.opposite
        qty = entry.filled_quantity
        if bracket.stop_loss:
            self.submit(
                entry.symbol,
                exit_side,
                qty,
                OrderType.STOP_MARKET,
                stop_price=bracket.stop_loss,
                reduce_only=True,
                tag="stop_loss",
                decision=entry.decision,
            )
        if bracket.take_profit:
            self.submit(
                entry.symbol,
                exit_side,
                qty,
                OrderType.LIMIT,
                price=bracket.take_profit,
                reduce_only=True,
                tag="take_profit",
                decision=entry.decision,
            )

    def _record(self, order: Order, *, submitted: bool) -> Order:
        self._orders[order.client_order_id] = order
        self.pending_orders[order.client_order_id] = order
        topic = _ORDER_SUBMITTED if submitted else _ORDER_UPDATED
        self.bus.publish_record(topic, ORDER_KEYS, order_values(order), source="execution")
        return order

    def _count(self, counter: str) -> None:
        if self._status is not None:
            self._status.count(counter)

    # ------------------------------------------------------------------ persistence
    def drain(self) -> tuple[list[Order], list[Fill]]:
        orders = list(self.pending_orders.values())
        fills = self.pending_fills
        self.pending_orders = {}
        self.pending_fills = []
        return orders, fills

    def snapshot(self) -> dict[str, Any]:
        return {
            "seq": self._seq,
            "unsent": sorted(self._unsent),
            "fills": self.fills,
            **self._fill_ids.snapshot(),
            "duplicate_fills": self.duplicate_fills,
            "brackets": {
                k: [b.stop_loss, b.take_profit] for k, b in sorted(self._brackets.items())
            },
        }

    def restore(self, snap: Mapping[str, Any], known: Mapping[str, Order]) -> None:
        self._seq = int(snap["seq"])
        self.fills = int(snap["fills"])
        self._fill_ids.restore(snap)  # none in checkpoints from before, undated in later ones
        self.duplicate_fills = int(snap.get("duplicate_fills", 0))
        self._unsent = set(snap.get("unsent", ()))  # none in checkpoints from before
        self._brackets = {k: Bracket(v[0], v[1]) for k, v in snap["brackets"].items()}
        self._orders = dict(known)
