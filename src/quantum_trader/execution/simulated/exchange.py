"""The simulated USDT-M perpetual futures exchange (one-way mode, isolated margin).

It holds resting orders, matches them against each closed candle with the rules in
``matching.py``, settles funding at each funding time, and liquidates positions whose isolated
margin falls to the maintenance margin. Its account book is a :class:`Portfolio`.

``on_bar`` takes scalars, not a Candle: it runs once per replayed candle, so it returns after a
few comparisons when the symbol has no resting order, no position and no funding due.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quantum_trader.domain.columns import CandleColumns
from quantum_trader.domain.errors import (
    OrderRejectedError,
)
from quantum_trader.domain.orders import (
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Side,
    build_fill,
    filled_order,
)
from quantum_trader.domain.positions import Position
from quantum_trader.execution.instruments import SymbolSpec
from quantum_trader.execution.simulated.fees import FeeSchedule
from quantum_trader.execution.simulated.funding import FundingSchedule
from quantum_trader.execution.simulated.matching import candle_path, first_touch
from quantum_trader.execution.simulated.order_codec import order_from_dict, order_to_dict
from quantum_trader.execution.simulated.reach import Reach
from quantum_trader.execution.venue import ExecutionListener
from quantum_trader.portfolio.portfolio import Portfolio, PositionState

_NEVER = 2**62
_TERMINAL = frozenset(s for s in OrderStatus if s.is_terminal)


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    """Frozen settings of the simulated exchange.

    ``slippage_bps`` moves every taker fill against the order by that many basis points;
    ``random_slippage_bps`` adds a uniform draw in ``[0, random_slippage_bps]`` from a generator
    seeded with ``seed`` (its state is checkpointed, so a resumed run draws the same numbers).
    """

    fees: FeeSchedule = field(default_factory=FeeSchedule)
    slippage_bps: float = 0.0
    random_slippage_bps: float = 0.0
    seed: int = 0
    liquidation: bool = True


class _Book:
    """Per-symbol hot state: one dict lookup per candle, then attribute access."""

    __slots__ = ("bars", "next_funding", "open", "state")

    def __init__(self, state: PositionState, open_ids: list[str]) -> None:
        self.state = state
        self.open = open_ids
        self.bars = 0  # candles of this symbol processed so far
        self.next_funding = -1  # set on the first candle


class _NullListener:
    def on_order_update(self, order: Order) -> None:
        return None

    def on_fill(self, fill: Fill, order: Order) -> None:
        return None


def _fill_time(fill: Fill) -> int:
    return fill.time


class SimulatedExchange:
    """A venue that fills orders against replayed candles."""

    def __init__(
        self,
        specs: Mapping[str, SymbolSpec],
        portfolio: Portfolio,
        funding: FundingSchedule,
        config: ExchangeConfig | None = None,
    ) -> None:
        self.specs = dict(specs)
        self.portfolio = portfolio
        self.funding = funding
        self.config = config or ExchangeConfig()
        self._listener: ExecutionListener = _NullListener()
        self._orders: dict[str, Order] = {}
        self._open: dict[str, list[str]] = {s: [] for s in self.specs}
        self._expiry: dict[str, int] = {}
        # An order takes part in a candle only if it arrived before the candle was processed:
        # _arrival[cid] is the symbol's candle count at submission, _bars[symbol] the count so far.
        self._arrival: dict[str, int] = {}
        self._books: dict[str, _Book] = {}
        self._reach: dict[str, Reach] = {}
        self._liquidation = self.config.liquidation
        self._no_slippage = self.config.slippage_bps == 0 and self.config.random_slippage_bps <= 0
        self._maker_rate = self.config.fees.maker
        self._taker_rate = self.config.fees.taker
        self._fill_seq = 0
        #: this session's fills, oldest first (``recent_fills``; not checkpointed: after a
        #: restore it holds the fills since, the journal holds the earlier ones)
        self._fills: list[Fill] = []
        self._rng = random.Random(self.config.seed)
        self._states: dict[str, PositionState] = {}
        self._bar_open: dict[str, int] = {}
        self.funding_settlements = 0  # funding times passed
        self.funding_payments = 0  # of which a position paid or received
        self.rebind()

    # ------------------------------------------------------------------ Venue port
    def set_listener(self, listener: ExecutionListener) -> None:
        self._listener = listener

    def rebind(self) -> None:
        """Refresh the cached position records (after the portfolio was restored)."""
        for symbol, spec in self.specs.items():
            state = self.portfolio.state(symbol)
            if state is None:
                self.portfolio.set_leverage(symbol, 1.0, spec.maintenance_margin_rate)
                state = self.portfolio.state(symbol)
            assert state is not None
            self._states[symbol] = state
            book = self._books.get(symbol)
            if book is None:
                self._books[symbol] = _Book(state, self._open[symbol])
            else:
                book.state = state
                book.open = self._open[symbol]

    def set_leverage(self, symbol: str, leverage: float) -> None:
        spec = self._spec(symbol)
        if not 0 < leverage <= spec.max_leverage:
            raise OrderRejectedError(
                f"{symbol}: leverage {leverage} outside (0, {spec.max_leverage}] (symbol maximum)"
            )
        state = self._states[symbol]
        if state.qty != 0 and leverage != state.leverage:
            raise OrderRejectedError(
                f"{symbol}: cannot change leverage {state.leverage} → {leverage} with an open "
                f"position of {state.qty}"
            )
        self.portfolio.set_leverage(symbol, leverage, spec.maintenance_margin_rate)

    def leverage(self, symbol: str) -> float:
        return self._states[symbol].leverage

    def submit(self, order: Order, good_till: int | None = None) -> Order:
        """Accept ``order`` (resting until the next candle) or reject it for margin.

        ``good_till``: the order expires (EXPIRED) at the first candle close at or after it.
        """
        symbol = order.symbol
        self._spec(symbol)
        if order.client_order_id in self._orders:
            return self._orders[order.client_order_id]
        reason = (
            ""
            if order.reduce_only
            else self._margin_shortfall(
                symbol,
                order.side,
                order.remaining,
                self._reference_price(order),
            )
        )
        if reason:
            rejected = order.transition(OrderStatus.REJECTED, order.created_at, reason)
            self._orders[order.client_order_id] = rejected
            return rejected
        self._orders[order.client_order_id] = order
        self._open[symbol].append(order.client_order_id)
        self._arrival[order.client_order_id] = self._books[symbol].bars
        if good_till is not None:
            self._expiry[order.client_order_id] = good_till
        return order

    def cancel(self, client_order_id: str) -> Order:
        order = self._orders.get(client_order_id)
        if order is None:
            raise OrderRejectedError(f"cancel: unknown client order id {client_order_id!r}")
        if order.status.is_terminal:
            return order
        return self._finish(order, OrderStatus.CANCELED, order.created_at, "canceled by client")

    def fetch_order(self, client_order_id: str) -> Order | None:
        return self._orders.get(client_order_id)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        symbols = [symbol] if symbol is not None else sorted(self._open)
        return [self._orders[c] for s in symbols for c in self._open.get(s, [])]

    def positions(self) -> dict[str, Position]:
        return self.portfolio.positions()

    def recent_fills(self, since_ms: int) -> list[Fill]:
        """The fills at or after ``since_ms``, oldest first (reconciliation's ``VenueAccount``)."""
        fills = self._fills  # appended in time order
        return fills[bisect_left(fills, since_ms, key=_fill_time) :]

    def balance(self) -> float:
        return self.portfolio.wallet_balance

    # ------------------------------------------------------------------ hot path
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
        """Process one closed candle of ``symbol``: fills, liquidation, funding.

        The portfolio's own ``on_bar`` (registered after this one) marks the position at the
        close and records equity.
        """
        book = self._books.get(symbol)
        if book is None:
            self._spec(symbol)
            raise AssertionError("unreachable")
        book.bars += 1
        state = book.state
        if book.open:
            self._match(book, symbol, state, open_time, close_time, o, h, lo, c)
        elif state.qty != 0 and self._liquidation:
            liq = state.liq_price
            if (state.qty > 0 and lo <= liq) or (state.qty < 0 and h >= liq):
                self._match(book, symbol, state, open_time, close_time, o, h, lo, c)
        if close_time >= book.next_funding:
            self._settle_funding(book, symbol, open_time, close_time, c)

    # ------------------------------------------------------------------ fast-forward
    def quiet_until(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> int:
        """The first candle in ``[start, stop)`` that needs :meth:`on_bar` (else ``stop``).

        Quiet candles: no resting order and no liquidation touch (funding times are settled
        in bulk by :meth:`skip_bars`).
        """
        book = self._books.get(symbol)
        if book is None or book.open or book.next_funding < 0:
            return start
        state = book.state
        qty = state.qty
        if qty == 0:
            return stop
        if self._liquidation and stop > start:
            liq = state.liq_price
            reach = self._reach.get(symbol)
            if reach is None or reach.bars is not bars:
                reach = self._reach[symbol] = Reach(bars)
            # the stretch is only searched when the rest of the data comes near the price
            if qty > 0:
                if reach.low_may_reach(start, stop, liq):
                    lows = bars.low[start:stop]
                    if lows.min() <= liq:
                        stop = start + int((lows <= liq).argmax())
            elif reach.high_may_reach(start, stop, liq):
                highs = bars.high[start:stop]
                if highs.max() >= liq:
                    stop = start + int((highs >= liq).argmax())
        return stop

    def skip_bars(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> None:
        """Apply quiet candles ``[start, stop)``: count them, and settle the funding times
        among them at the close of the candle that settles each (as :meth:`on_bar` would)."""
        book = self._books[symbol]
        book.bars += stop - start
        t = book.next_funding
        times = bars.close_times
        last = times[stop - 1]
        j = start
        while t <= last:
            j = bisect_left(times, t, j, stop)  # the candle whose close settles time t
            rate = self.funding.rate_at(symbol, t)
            if self.portfolio.apply_funding(symbol, rate, bars.close.item(j), t) != 0.0:
                self.funding_payments += 1
            self.funding_settlements += 1
            t = self.funding.next_after(symbol, t)
        book.next_funding = t

    def _settle_funding(
        self, book: _Book, symbol: str, open_time: int, close_time: int, mark: float
    ) -> None:
        t = book.next_funding
        if t < 0:
            t = self.funding.next_after(symbol, open_time)
        while t <= close_time:
            rate = self.funding.rate_at(symbol, t)
            if self.portfolio.apply_funding(symbol, rate, mark, t) != 0.0:
                self.funding_payments += 1
            self.funding_settlements += 1
            t = self.funding.next_after(symbol, t)
        book.next_funding = t

    # ------------------------------------------------------------------ matching
    def _match(
        self,
        book: _Book,
        symbol: str,
        state: PositionState,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
    ) -> None:
        bar = book.bars
        arrival = self._arrival
        open_ids = book.open
        orders = self._orders
        for cid in [cid for cid in open_ids if arrival[cid] < bar]:
            order = orders[cid]
            if order.order_type is OrderType.MARKET and order.status not in _TERMINAL:
                price = o if self._no_slippage else self._slipped(order, o)
                self._fill(order, state, price, False, open_time, "")
        if not open_ids and not self._expiry:
            # nothing rests any more: only a liquidation can still happen in this candle
            qty = state.qty
            if qty == 0 or not self._liquidation:
                return
            liq = state.liq_price
            if (qty > 0 and lo > liq) or (qty < 0 and h < liq):
                return
        path = candle_path(o, h, lo, c, long=state.qty > 0)
        now = 0.0
        while True:
            best: tuple[float, int, str, float, bool] | None = None
            for seq, cid in enumerate(self._open[symbol]):
                if arrival[cid] >= bar:
                    continue
                order = self._orders[cid]
                hit = self._touch(order, path, now, arrival[cid] == bar - 1)
                if hit is not None and (best is None or hit[0] < best[0]):
                    best = (hit[0], seq, cid, hit[1], hit[2])
            liq_hit = None
            if state.qty != 0 and self._liquidation:
                liq_hit = first_touch(path, state.liq_price, up=state.qty < 0, start=now)
            if liq_hit is not None and (best is None or liq_hit[0] <= best[0]):
                now = liq_hit[0]
                self._liquidate(symbol, state, liq_hit[1], close_time)
                continue
            if best is None:
                break
            now = best[0]
            order = self._orders[best[2]]
            price = best[3] if best[4] else self._slipped(order, best[3])
            self._fill(order, state, price, best[4], open_time if now == 0.0 else close_time, "")
        for cid in list(self._open[symbol]):
            expires = self._expiry.get(cid)
            if expires is not None and close_time >= expires:
                self._finish(
                    self._orders[cid], OrderStatus.EXPIRED, close_time, "good-till time reached"
                )

    def _touch(
        self, order: Order, path: tuple[float, float, float, float], start: float, arrived_now: bool
    ) -> tuple[float, float, bool] | None:
        """(path time, price, is_maker) at which a resting order triggers, or None."""
        if order.order_type is OrderType.LIMIT:
            assert order.price is not None
            hit = first_touch(path, order.price, up=order.side is Side.SELL, start=start)
            if hit is None:
                return None
            if hit[0] == 0.0 and arrived_now:
                return 0.0, hit[1], False  # marketable on arrival: fills at the open, as taker
            return hit[0], order.price, True
        if order.order_type is OrderType.STOP_MARKET:
            assert order.stop_price is not None
            hit = first_touch(path, order.stop_price, up=order.side is Side.BUY, start=start)
            return None if hit is None else (hit[0], hit[1], False)
        return None

    def _slipped(self, order: Order, price: float) -> float:
        if self._no_slippage:
            return price
        bps = self.config.slippage_bps
        if self.config.random_slippage_bps > 0:
            bps += self._rng.uniform(0.0, self.config.random_slippage_bps)
        if bps == 0.0:
            return price
        spec = self.specs[order.symbol]
        if order.side is Side.BUY:
            return spec.round_price(price * (1 + bps / 10_000), up=True)
        return spec.round_price(price * (1 - bps / 10_000), up=False)

    def _fill(
        self, order: Order, state: PositionState, price: float, is_maker: bool, time: int, why: str
    ) -> None:
        symbol = order.symbol
        cid = order.client_order_id
        qty = max(order.quantity - order.filled_quantity, 0.0)  # ``order.remaining``, inline
        if order.reduce_only:
            reducible = abs(state.qty) if (state.qty > 0) == (order.side is Side.SELL) else 0.0
            if state.qty == 0 or reducible <= 0:
                self._finish(
                    order, OrderStatus.CANCELED, time, "reduce-only: no position to reduce"
                )
                return
            qty = min(qty, reducible)
        else:
            shortfall = self._margin_shortfall(symbol, order.side, qty, price)
            if shortfall:
                if order.filled_quantity > 0:
                    self._finish(order, OrderStatus.CANCELED, time, shortfall)
                else:
                    self._finish(order, OrderStatus.REJECTED, time, shortfall)
                return
        fee = qty * price * (self._maker_rate if is_maker else self._taker_rate)  # FeeSchedule.fee
        self._fill_seq += 1
        fill = build_fill(
            f"{cid}-F{self._fill_seq}", cid, symbol, order.side, qty, price, fee, time, is_maker
        )
        self._fills.append(fill)
        updated = filled_order(order, qty, price, time)
        self._orders[cid] = updated
        if updated.status in _TERMINAL:
            self._open[symbol].remove(cid)
        exit_reason = "stop" if order.order_type is OrderType.STOP_MARKET else order.reason
        self.portfolio.apply_fill(
            symbol,
            order.side,
            qty,
            price,
            fee,
            time,
            cid,
            order.reason,
            exit_reason or why,
            order.decision,
            fill_id=fill.fill_id,
        )
        self._listener.on_fill(fill, updated)
        if order.reduce_only and updated.status not in _TERMINAL:
            self._finish(updated, OrderStatus.CANCELED, time, "reduce-only remainder canceled")
        if state.qty == 0:
            self._cancel_reduce_only(symbol, time)

    def _liquidate(self, symbol: str, state: PositionState, price: float, time: int) -> None:
        self.portfolio.liquidate(symbol, price, time, f"liquidation@{time}")
        self._cancel_reduce_only(symbol, time)

    def _cancel_reduce_only(self, symbol: str, time: int) -> None:
        for cid in list(self._open[symbol]):
            order = self._orders[cid]
            if order.reduce_only:
                self._finish(order, OrderStatus.CANCELED, time, "position closed")

    def _finish(self, order: Order, status: OrderStatus, time: int, reason: str) -> Order:
        done = order.transition(status, time, reason)
        self._orders[order.client_order_id] = done
        ids = self._open[order.symbol]
        if order.client_order_id in ids:
            ids.remove(order.client_order_id)
        self._listener.on_order_update(done)
        return done

    # ------------------------------------------------------------------ checks
    def _spec(self, symbol: str) -> SymbolSpec:
        spec = self.specs.get(symbol)
        if spec is None:
            raise OrderRejectedError(f"unknown symbol {symbol!r}; known: {sorted(self.specs)}")
        return spec

    def _reference_price(self, order: Order) -> float:
        """The price an order's margin is reckoned at: its own price, else the mark."""
        return order.price or order.stop_price or self._states[order.symbol].mark

    def _margin_shortfall(self, symbol: str, side: Side, quantity: float, price: float) -> str:
        """Why the account cannot carry a new (not reduce-only) order for ``quantity`` at
        ``price`` ('' when it can)."""
        if price <= 0 or quantity == 0.0:
            return ""
        state = self._states[symbol]
        held = state.qty
        increase = quantity
        if held != 0 and (held > 0) != (side is Side.BUY):  # against the position
            held = -held if held < 0 else held
            if quantity <= held:
                return ""  # only reduces: needs no margin
            increase = quantity - held
        need = increase * price / state.leverage + increase * price * self._taker_rate
        available = self.portfolio.available_balance
        if need > available + 1e-9:
            return (
                f"insufficient margin: {symbol} {side} {increase} at {price} "
                f"needs {need:.4f} USDT, available {available:.4f}"
            )
        return ""

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> dict[str, Any]:
        rng_state = self._rng.getstate()
        return {
            "open_orders": [
                order_to_dict(self._orders[c]) for s in sorted(self._open) for c in self._open[s]
            ],
            "next_funding": {s: b.next_funding for s, b in sorted(self._books.items())},
            "fill_seq": self._fill_seq,
            "expiry": dict(self._expiry),
            "arrival": {c: self._arrival[c] for s in sorted(self._open) for c in self._open[s]},
            "bars": {s: b.bars for s, b in sorted(self._books.items())},
            "funding_settlements": self.funding_settlements,
            "funding_payments": self.funding_payments,
            "rng": [rng_state[0], list(rng_state[1]), rng_state[2]],
        }

    def restore(self, snap: Mapping[str, Any], known: Mapping[str, Order]) -> None:
        self._orders = dict(known)
        self._open = {s: [] for s in self.specs}
        for raw in snap["open_orders"]:
            order = order_from_dict(raw)
            self._orders[order.client_order_id] = order
            self._open[order.symbol].append(order.client_order_id)
        self._fill_seq = int(snap["fill_seq"])
        self._expiry = {k: int(v) for k, v in snap["expiry"].items()}
        self._arrival = {k: int(v) for k, v in snap["arrival"].items()}

        self.funding_settlements = int(snap["funding_settlements"])
        self.funding_payments = int(snap["funding_payments"])
        version, internal, gauss = snap["rng"]
        self._rng.setstate((version, tuple(internal), gauss))
        self.rebind()
        for symbol, book in self._books.items():
            book.bars = int(snap["bars"][symbol])
            book.next_funding = int(snap["next_funding"][symbol])
