"""A protective stop on the venue for every position adopted from it (issue 23).

A position the venue holds when the engine takes the account over (``handover.py``), or one
that reconciliation adopts later, is on the book but has no stop-loss of this process's making:
its exits are the engine's, and an engine that crashes leaves it naked at the venue. Each
adopted position therefore gets a reduce-only ``STOP_MARKET`` on the venue for its size, unless
working stops already cover it.

The stop's price comes from what is known, in this order:

1. **the lineage**: the stop-loss of the decision that opened it, when the position is this
   system's (an entry under the lineage's client-id prefix, ``client_ids.py``, in the journal
   of a crashed run of this database, ``restart.py``): the bracket the crashed run still held
   for the entry (its checkpoint's ``orders.brackets``), else the price of the stop-loss order
   it sent for the same decision. The newest entry of the symbol (filled, or still unanswered
   when the run crashed) counts, when it is on the position's side;
2. **the risk policy**: the configured ``TradingPolicy.stop_loss_pct`` from the position's entry
   price (the distance every strategy sizes its stop with, ``strategy/strategies/base.py``).

A price the mark has already crossed is not used (the venue would trigger it at once, Binance
``-2021``); none left, or none to start from (no policy, no trading rules for the symbol), and
the position stays **naked**: reported with the reason, never given an invented price. A stop
already working on the venue for the symbol (on the exit side, reduce-only) is kept and counts
against the size; only the uncovered rest gets a stop, so a second handover (a second restart)
places nothing more.

The stop goes through the order manager (``submit``), like a bracket: journalled, committed
before its request (``write_ahead``), under a lineage client id with the ``stop_loss`` role, and
followed by the venue book (reduce-only: the kill switch leaves it working).

**Take-profit.** When the lineage's decision also asked for a take-profit, the position gets it
too, as the bracket sends one: a reduce-only ``LIMIT`` at that price (``take_profit`` role), by
the same rules: working reduce-only limits on the exit side are kept and count against the
size, so repeated handovers place one; a price the mark has already passed is not used (a limit
there would fill at once, an exit no decision asked for). No lineage take-profit, no order: the
risk policy has no take-profit distance to invent one from.

**A lineage entry that fills after the handover.** An earlier run's resting entry, adopted as
open at the handover (or later) by reconciliation, may fill while this run trades: the poll
hears the fill and the position opens, but this run holds no bracket for it. The order
manager's listener is wrapped (:class:`AdoptedEntries`) so that such a fill calls for the same
protection, priced the same way (the lineage's decision first, then the risk policy).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType, Side
from quantum_trader.domain.positions import Position
from quantum_trader.execution.ccxt_mapping import is_take_profit_market
from quantum_trader.execution.instruments import SymbolSpec
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.execution.store import StoredRun
from quantum_trader.execution.venue import ExecutionListener
from quantum_trader.status.registry import ModuleHandle, ModuleState

#: the order tags (and client-id roles) of a bracket's exits (``order_manager.Bracket``)
STOP_LOSS_TAG = "stop_loss"
TAKE_PROFIT_TAG = "take_profit"


@dataclass(frozen=True, slots=True)
class LineageStop:
    """The stop-loss the decision that opened a lineage position asked for."""

    symbol: str
    side: Side  # the entry's side: BUY opened a long
    stop_price: float | None
    decision_id: str
    run_id: str
    at: int  # when the journal last heard of the entry (the newest counts)
    take_profit: float | None = None


def lineage_stops(crashed: Mapping[str, StoredRun], prefix: str) -> dict[str, LineageStop]:
    """The newest lineage entry's stop-loss and take-profit per symbol, from the journals of the crashed runs
    (run id → its stored checkpoint); ``prefix``: the lineage's client-id prefix (the replay's
    paper orders never reached the venue and do not count)."""
    found: dict[str, LineageStop] = {}
    for run_id, stored in crashed.items():
        for stop in _stops_of(run_id, stored, prefix):
            held = found.get(stop.symbol)
            if held is None or stop.at >= held.at:
                found[stop.symbol] = stop
    return found


def _stops_of(run_id: str, stored: StoredRun, prefix: str) -> list[LineageStop]:
    raw = json.loads(stored.state_json).get("orders", {}).get("brackets", {})
    # order_manager.snapshot: client id → [stop_loss, take_profit], either None
    brackets = {str(cid): (v[0], v[1]) for cid, v in raw.items()}
    sent: dict[tuple[str, str], float] = {}
    for o in stored.orders.values():
        price = o.stop_price if o.reason == STOP_LOSS_TAG else o.price
        if o.reason in (STOP_LOSS_TAG, TAKE_PROFIT_TAG) and price and o.decision is not None:
            sent[(o.decision.decision_id, o.reason)] = price
    out = []
    for cid, entry in stored.orders.items():
        # an entry the journal holds unanswered (the crash came first) may have filled: the
        # venue's position says it did; one that ended unfilled opened nothing
        ended_unfilled = entry.status.is_terminal and entry.filled_quantity <= 0
        if entry.reduce_only or ended_unfilled or not cid.startswith(prefix):
            continue
        decision = entry.decision.decision_id if entry.decision is not None else ""
        held_stop, held_target = brackets.get(cid, (None, None))
        stop = held_stop or sent.get((decision, STOP_LOSS_TAG))
        target = held_target or sent.get((decision, TAKE_PROFIT_TAG))
        if stop or target:
            at = entry.updated_at or entry.created_at
            out.append(
                LineageStop(
                    entry.symbol,
                    entry.side,
                    float(stop) if stop else None,
                    decision,
                    run_id,
                    at,
                    float(target) if target else None,
                )
            )
    return out


class Outcome(StrEnum):
    KEPT = "kept"  # working stops on the venue cover it
    PLACED = "placed"  # a stop was placed now
    NAKED = "naked"  # no stop: see the reason


@dataclass(frozen=True, slots=True)
class Protection:
    """What one adopted position got: ``source`` says where the stop's price came from."""

    symbol: str
    quantity: float  # the position, signed
    outcome: Outcome
    stop_price: float | None = None
    source: str = ""
    reason: str = ""
    client_order_id: str = ""
    #: the lineage's take-profit: KEPT, PLACED, NAKED (why: ``take_profit_reason``) or None
    #: when the decision asked for none
    take_profit: float | None = None
    take_profit_outcome: Outcome | None = None
    take_profit_reason: str = ""


def covering_stops(position: Position, open_orders: Iterable[Order]) -> list[Order]:
    """The working stops that close (part of) ``position``: its symbol, the exit side,
    reduce-only, a stop price, not finished. A close-all stop placed by hand
    (``closePosition``) is one, read with the position's size (``ccxt_conditional``); a
    ``TAKE_PROFIT_MARKET`` is not: it triggers on a favourable move, and protects nothing
    against the adverse one."""
    return [
        o
        for o in working_exits(position, open_orders)
        if o.stop_price is not None and not is_take_profit_market(o)
    ]


def working_exits(position: Position, open_orders: Iterable[Order]) -> list[Order]:
    """The orders that can only close (part of) ``position``: its symbol, the exit side,
    reduce-only, not finished."""
    exit_side = Side.SELL if position.quantity > 0 else Side.BUY
    return [
        o
        for o in open_orders
        if o.symbol == position.symbol
        and o.side is exit_side
        and o.reduce_only
        and not o.status.is_terminal
    ]


@dataclass(frozen=True, slots=True)
class StopPolicy:
    """Where prices come from: the lineage's stops (by symbol) and the risk policy's
    ``stop_loss_pct`` (None: no policy known)."""

    lineage: Mapping[str, LineageStop]
    stop_loss_pct: float | None


class ProtectiveStops:
    """Places the stops (module docstring) through ``orders``; ``mark``: the last price known
    per symbol (None or 0: unknown, no crossing check)."""

    def __init__(
        self,
        orders: OrderManager,
        specs: Mapping[str, SymbolSpec],
        mark: Callable[[str], float | None],
    ) -> None:
        self.orders = orders
        self.specs = dict(specs)
        self._mark = mark

    def protect(
        self, positions: Iterable[Position], open_orders: Iterable[Order], policy: StopPolicy
    ) -> list[Protection]:
        working = list(open_orders)
        out = []
        for p in positions:
            if p.quantity != 0:
                stop = self._protect(p, working, policy)
                out.append(self._take_profit(p, working, policy, stop))
        return out

    def _protect(self, position: Position, working: list[Order], policy: StopPolicy) -> Protection:
        symbol, qty = position.symbol, position.quantity
        spec = self.specs.get(symbol)
        if spec is None:
            return Protection(symbol, qty, Outcome.NAKED, reason=f"no trading rules for {symbol}")
        stops = covering_stops(position, working)
        covered = sum(o.quantity - o.filled_quantity for o in stops)
        uncovered = spec.floor_quantity(abs(qty) - covered + spec.step_size * 1e-6)
        if uncovered < spec.step_size:
            cids = ", ".join(o.client_order_id for o in stops)
            return Protection(symbol, qty, Outcome.KEPT, stops[0].stop_price, "venue", cids)
        price, source, why_not = self._price(position, spec, policy)
        if price is None:
            return Protection(symbol, qty, Outcome.NAKED, reason=why_not)
        exit_side = Side.SELL if qty > 0 else Side.BUY
        try:
            order = self.orders.submit(
                symbol,
                exit_side,
                uncovered,
                OrderType.STOP_MARKET,
                stop_price=price,
                reduce_only=True,
                tag=STOP_LOSS_TAG,
            )
        except TimeoutError as exc:
            return Protection(symbol, qty, Outcome.NAKED, price, source, f"no answer: {exc}")
        if order.status is OrderStatus.REJECTED:
            reason = f"the venue refused the stop: {order.reason}"
            return Protection(symbol, qty, Outcome.NAKED, price, source, reason)
        working.append(order)
        return Protection(
            symbol, qty, Outcome.PLACED, price, source, client_order_id=order.client_order_id
        )

    def _price(
        self, position: Position, spec: SymbolSpec, policy: StopPolicy
    ) -> tuple[float | None, str, str]:
        """(price, where it came from, '') or (None, '', why there is none)."""
        long = position.quantity > 0
        mark = self._mark(position.symbol) or 0.0
        refused: list[str] = []
        lineage = policy.lineage.get(position.symbol)
        if lineage is not None and lineage.stop_price and (lineage.side is Side.BUY) == long:
            source = f"lineage: decision {lineage.decision_id} of run {lineage.run_id}"
            crossed = _crossed(lineage.stop_price, mark, long)
            if not crossed:
                return lineage.stop_price, source, ""
            refused.append(f"{source}: stop {lineage.stop_price:g} {crossed}")
        if policy.stop_loss_pct is not None and position.entry_price > 0:
            pct = policy.stop_loss_pct
            raw = position.entry_price * (1 - pct if long else 1 + pct)
            price = spec.round_price(raw, up=long)  # toward the entry, as a bracket's
            source = f"risk policy: stop_loss_pct {pct:g} from the entry {position.entry_price:g}"
            crossed = _crossed(price, mark, long)
            if not crossed:
                return price, source, ""
            refused.append(f"{source}: stop {price:g} {crossed}")
        elif policy.stop_loss_pct is None:
            refused.append("no risk policy to derive a stop distance from")
        else:
            refused.append("the venue reports no entry price to measure the stop from")
        return None, "", "; ".join(refused)

    def _take_profit(
        self, position: Position, working: list[Order], policy: StopPolicy, stop: Protection
    ) -> Protection:
        """``stop`` with the lineage's take-profit added (module docstring)."""
        symbol, long = position.symbol, position.quantity > 0
        lineage, spec = policy.lineage.get(symbol), self.specs.get(symbol)
        if lineage is None or not lineage.take_profit or (lineage.side is Side.BUY) != long:
            return stop
        if spec is None:  # the stop is naked for the same reason
            return stop
        target = lineage.take_profit
        outcome, why = self._place_take_profit(position, spec, target, working)
        return replace(
            stop, take_profit=target, take_profit_outcome=outcome, take_profit_reason=why
        )

    def _place_take_profit(
        self, position: Position, spec: SymbolSpec, target: float, working: list[Order]
    ) -> tuple[Outcome, str]:
        long = position.quantity > 0
        held = covering_take_profits(position, working)
        covered = sum(o.quantity - o.filled_quantity for o in held)
        uncovered = spec.floor_quantity(abs(position.quantity) - covered + spec.step_size * 1e-6)
        if uncovered < spec.step_size:
            return Outcome.KEPT, ""
        mark = self._mark(position.symbol) or 0.0
        if mark > 0 and (target <= mark if long else target >= mark):
            return Outcome.NAKED, f"take-profit {target:g} already passed by the mark {mark:g}"
        try:
            order = self.orders.submit(
                position.symbol,
                Side.SELL if long else Side.BUY,
                uncovered,
                OrderType.LIMIT,
                price=target,
                reduce_only=True,
                tag=TAKE_PROFIT_TAG,
            )
        except TimeoutError as exc:
            return Outcome.NAKED, f"no answer: {exc}"
        if order.status is OrderStatus.REJECTED:
            return Outcome.NAKED, f"the venue refused the take-profit: {order.reason}"
        working.append(order)
        return Outcome.PLACED, ""


def covering_take_profits(position: Position, open_orders: Iterable[Order]) -> list[Order]:
    """The working take-profits of ``position``: reduce-only limits on the exit side (how a
    bracket sends one), or a ``TAKE_PROFIT_MARKET`` placed on the venue by hand (a
    close-all one included), not finished."""
    return [
        o
        for o in working_exits(position, open_orders)
        if o.order_type is OrderType.LIMIT or is_take_profit_market(o)
    ]


def _crossed(stop: float, mark: float, long: bool) -> str:
    """Why a stop at ``stop`` cannot be placed with the mark at ``mark`` ('' when it can)."""
    if mark <= 0:
        return ""
    if (long and stop >= mark) or (not long and stop <= mark):
        return f"already crossed by the mark {mark:g}"
    return ""


def record(results: Iterable[Protection], status: ModuleHandle | None) -> list[Protection]:
    """The evidence on the execution module: ``adopted_protected`` (kept or placed, with
    ``adopted_stop_kept`` / ``adopted_stop_placed``), ``adopted_naked``; a naked position makes
    the module DEGRADED with the reason. Returns the naked ones."""
    naked = [r for r in results if r.outcome is Outcome.NAKED]
    if status is None:
        return naked
    for r in results:
        if r.outcome is Outcome.NAKED:
            status.count("adopted_naked")
        else:
            status.count("adopted_protected")
            status.count(f"adopted_stop_{r.outcome}")
        if r.take_profit_outcome is not None:
            status.count(f"adopted_take_profit_{r.take_profit_outcome}")
    if naked:
        why = "; ".join(f"{r.symbol} {r.quantity:g}: {r.reason}" for r in naked)
        status.set_state(ModuleState.DEGRADED, f"naked position on the venue (no stop): {why}")
    return naked


class AdoptedEntries:
    """The venue book's listener in front of the order manager (``inner``): every report goes
    to it unchanged, and a fill of an entry adopted from the venue (:meth:`watch`: not
    reduce-only, still open) then calls ``on_entry_fill`` with the fill, once the book holds
    the position it opened (the venue book posts a fill before telling its listener). The
    order manager places a bracket the same way, from its fill callback."""

    def __init__(
        self, inner: ExecutionListener, on_entry_fill: Callable[[Fill, Order], None]
    ) -> None:
        self.inner = inner
        self._on_entry_fill = on_entry_fill
        self.entries: set[str] = set()  # client ids of the adopted entries still open

    def watch(self, orders: Iterable[Order]) -> None:
        self.entries.update(
            o.client_order_id for o in orders if not o.reduce_only and not o.status.is_terminal
        )

    def on_order_update(self, order: Order) -> None:
        self.inner.on_order_update(order)
        if order.status.is_terminal:
            self.entries.discard(order.client_order_id)

    def on_fill(self, fill: Fill, order: Order) -> None:
        self.inner.on_fill(fill, order)
        cid = order.client_order_id
        if cid in self.entries:
            if order.status.is_terminal:
                self.entries.discard(cid)
            self._on_entry_fill(fill, order)
