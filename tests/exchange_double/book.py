"""The exchange double's account: orders, trades, positions and the wallet of one Binance USDT-M
account (one-way mode), with the matching rules the tests need and nothing more.

Market orders fill at the symbol's mark price (the test sets it) with the taker fee; limit
orders rest until the test moves the mark across their price, then fill at their price with the
maker fee (the account's rates: :attr:`Book.commission`, by default MAKER_FEE and TAKER_FEE).
``delay_fills`` and ``partial_ratio`` (set by :class:`~.faults.Faults`) hold fills back or
split them; :meth:`Book.release` and :meth:`Book.fill` let a test finish them. Every
fill is a trade with its own id, as ``/fapi/v1/userTrades`` reports it.

Mirror mode (:attr:`Book.mirror`, ``mirror.py``): the book's own matching is off; every
accepted order is handed to a :class:`FillSource`, which decides its fills and end (price,
quantity, fee, time) and books them through :meth:`Book.mirror_fill` and
:meth:`Book.mirror_status`; orders are stamped with the source's time. Off by default.

Conditional orders (``STOP_MARKET``, ``TAKE_PROFIT_MARKET``) live apart, as Binance has kept
them since its move of conditional orders to the algo-order API (``/fapi/v1/algoOrder``, late
2025; ccxt 4.5.90 sends every order with a trigger price there): :meth:`Book.create` with
``algo=True`` books one in :attr:`Book.algo_orders` under its own ids (``algoId``,
``clientAlgoId``); the plain order endpoint refuses the type (``-4120``), and the plain order
reads never list it. :meth:`Book.set_mark` triggers them (``conditional.py``): each becomes a
plain market order of its own (``actualOrderId``), filled at the mark like any market order.

Not thread-safe by itself: the server holds :attr:`Book.lock` around every request.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from tests.exchange_double.conditional import CONDITIONAL_TYPES, triggers

TAKER_FEE = 0.0005
MAKER_FEE = 0.0002


class VenueError(Exception):
    """An answer with Binance's error body: HTTP ``status``, ``{"code": code, "msg": msg}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.status, self.code, self.msg = status, code, msg


def not_found() -> VenueError:
    return VenueError(400, -2013, "Order does not exist.")


@dataclass(frozen=True, slots=True)
class MarketSpec:
    symbol: str  # BTCUSDT
    base: str
    tick: float
    step: float
    min_qty: float


MARKETS = {
    "BTCUSDT": MarketSpec("BTCUSDT", "BTC", 0.1, 0.001, 0.001),
    "ETHUSDT": MarketSpec("ETHUSDT", "ETH", 0.01, 0.001, 0.001),
}


@dataclass(slots=True)
class VenueOrder:
    order_id: int
    client_order_id: str
    symbol: str
    side: str  # BUY | SELL
    type: str  # MARKET | LIMIT
    quantity: float
    price: float
    reduce_only: bool
    time: int
    status: str = "NEW"
    filled: float = 0.0
    quote: float = 0.0  # Σ price × qty of the fills
    updated: int = 0
    held: float = 0.0  # quantity a fault holds back from filling (delayed or partial)
    stop_price: float = 0.0  # a conditional order's trigger price
    actual_order_id: int = 0  # a triggered conditional order: the market order it became
    trigger_time: int = 0
    #: ``closePosition=true``: no quantity of its own, it closes the whole position when it
    #: triggers (``conditional.py``)
    close_position: bool = False

    @property
    def average(self) -> float:
        return self.quote / self.filled if self.filled else 0.0

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


@dataclass(frozen=True, slots=True)
class Trade:
    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: float
    qty: float
    fee: float
    maker: bool
    realized: float
    time: int


@dataclass(frozen=True, slots=True)
class Income:
    """One ``FUNDING_FEE`` entry of the income history."""

    tran_id: int
    symbol: str
    income: float
    time: int


@dataclass(slots=True)
class Position:
    amount: float = 0.0  # signed
    entry: float = 0.0
    leverage: int = 20


class FillSource(Protocol):
    """Who fills the book's orders in mirror mode (``mirror.py``); ``now_ms`` stamps orders."""

    @property
    def now_ms(self) -> int: ...

    def accept(self, order: VenueOrder) -> str:
        """Take a new order; '' when accepted, else the refusal (the order is not booked)."""
        ...

    def cancel(self, client_order_id: str) -> None: ...


@dataclass
class Book:
    """One account; ``now_ms`` is the double's clock (the server's, skew excluded)."""

    wallet: float = 10_000.0
    marks: dict[str, float] = field(
        default_factory=lambda: {"BTCUSDT": 50_000.0, "ETHUSDT": 3_000.0}
    )
    delay_fills: bool = False
    partial_ratio: float | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    orders: dict[int, VenueOrder] = field(default_factory=dict)
    by_client_id: dict[str, int] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    positions: dict[str, Position] = field(default_factory=dict)
    duplicate_attempts: int = 0
    mirror: FillSource | None = None
    #: funding settled on the account, as ``/fapi/v1/income`` lists it (``pay_funding``)
    incomes: list[Income] = field(default_factory=list)
    #: the account's fee tier per symbol, (maker, taker): what ``/fapi/v1/commissionRate``
    #: answers and what its fills are charged; a symbol not here has MAKER_FEE, TAKER_FEE
    commission: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: conditional orders (the algo-order API), by ``algoId``; their client ids apart
    algo_orders: dict[int, VenueOrder] = field(default_factory=dict)
    by_algo_client_id: dict[str, int] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(8_389_765_001))
    _trade_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _income_ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(7_000_000_001)
    )

    def commission_rates(self, symbol: str) -> tuple[float, float]:
        """The account's (maker, taker) rates on ``symbol``."""
        return self.commission.get(symbol, (MAKER_FEE, TAKER_FEE))

    # ------------------------------------------------------------------ orders
    def create(
        self,
        *,
        symbol: str,
        side: str,
        type: str,
        quantity: float,
        price: float,
        reduce_only: bool,
        client_order_id: str,
        now_ms: int,
        stop_price: float = 0.0,
        algo: bool = False,
        close_position: bool = False,
    ) -> VenueOrder:
        if self.mirror is not None:
            now_ms = self.mirror.now_ms
        if symbol not in MARKETS:
            raise VenueError(400, -1121, "Invalid symbol.")
        if client_order_id in (self.by_algo_client_id if algo else self.by_client_id):
            self.duplicate_attempts += 1
            raise VenueError(400, -4116, "ClientOrderId is duplicated.")
        if close_position:
            _check_close_position(type, quantity, algo)
        elif quantity < MARKETS[symbol].min_qty:
            raise VenueError(400, -4003, "Quantity less than or equal to zero.")
        if type == "LIMIT" and price <= 0:
            raise VenueError(400, -4014, "Price not increased by tick size.")
        _check_type(type, stop_price, algo)
        if reduce_only and not close_position:
            held = self.positions.get(symbol, Position()).amount
            closing = -held if side == "BUY" else held
            if closing <= 0:
                raise VenueError(400, -2022, "ReduceOnly Order is rejected.")
            quantity = min(quantity, closing)
        if algo:
            if triggers(type, side, stop_price, self.marks[symbol]):
                raise VenueError(400, -2021, "Order would immediately trigger.")
            order = self._book_algo(
                symbol, side, type, quantity, reduce_only, client_order_id, now_ms, stop_price
            )
            order.close_position = close_position
            return order
        order = VenueOrder(
            next(self._ids),
            client_order_id,
            symbol,
            side,
            type,
            quantity,
            price,
            reduce_only,
            now_ms,
            updated=now_ms,
        )
        if self.mirror is not None:
            refusal = self.mirror.accept(order)
            if refusal:
                raise VenueError(400, -2019, refusal)
        self.orders[order.order_id] = order
        self.by_client_id[client_order_id] = order.order_id
        if self.mirror is not None:
            return order  # the mirror fills it, at its candles
        if type == "MARKET":
            self._fill_market(order, now_ms)
        else:
            self._cross(order, now_ms)
        return order

    def _book_algo(
        self,
        symbol: str,
        side: str,
        type: str,
        quantity: float,
        reduce_only: bool,
        client_algo_id: str,
        now_ms: int,
        stop_price: float,
    ) -> VenueOrder:
        """A conditional order, resting until cancelled or triggered (:meth:`set_mark`)."""
        order = VenueOrder(
            next(self._ids),
            client_algo_id,
            symbol,
            side,
            type,
            quantity,
            0.0,
            reduce_only,
            now_ms,
            updated=now_ms,
            stop_price=stop_price,
        )
        self.algo_orders[order.order_id] = order
        self.by_algo_client_id[client_algo_id] = order.order_id
        return order

    def find_algo(
        self, *, algo_id: int | None = None, client_algo_id: str | None = None
    ) -> VenueOrder:
        oid = algo_id if algo_id is not None else self.by_algo_client_id.get(client_algo_id or "")
        if oid is None or oid not in self.algo_orders:
            raise VenueError(400, -2013, "Order does not exist.")
        return self.algo_orders[oid]

    def open_algo_orders(self, symbol: str | None) -> list[VenueOrder]:
        return [o for o in self.algo_orders.values() if o.is_open and symbol in (None, o.symbol)]

    def find(
        self, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        oid = order_id if order_id is not None else self.by_client_id.get(client_order_id or "")
        if oid is None or oid not in self.orders:
            raise not_found()
        return self.orders[oid]

    def cancel(self, order: VenueOrder, now_ms: int) -> VenueOrder:
        if not order.is_open:
            raise VenueError(400, -2011, "Unknown order sent.")
        if self.mirror is not None and order.order_id not in self.algo_orders:
            self.mirror.cancel(order.client_order_id)  # ends it through mirror_status
            return order
        order.status, order.updated = "CANCELED", now_ms
        return order

    def open_orders(self, symbol: str | None) -> list[VenueOrder]:
        return [o for o in self.orders.values() if o.is_open and symbol in (None, o.symbol)]

    # ------------------------------------------------------------------ mirror mode
    def mirror_fill(
        self, client_order_id: str, qty: float, price: float, fee: float, now_ms: int, maker: bool
    ) -> None:
        """Book a fill the mirror decided, as it decided it."""
        with self.lock:
            order = self.find(client_order_id=client_order_id)
            self._execute(order, qty, price, now_ms, maker=maker, fee=fee)

    def mirror_status(self, client_order_id: str, status: str, now_ms: int) -> None:
        """End an order the way the mirror ended it (CANCELED, EXPIRED, REJECTED)."""
        with self.lock:
            order = self.find(client_order_id=client_order_id)
            order.status, order.updated = status, now_ms

    def pay_funding(self, symbol: str, income: float, now_ms: int) -> Income:
        """Settle a funding payment on the wallet (``income`` > 0: received), listed as a
        ``FUNDING_FEE`` income with an id of its own."""
        with self.lock:
            self.wallet += income
            entry = Income(next(self._income_ids), symbol, income, now_ms)
            self.incomes.append(entry)
            return entry

    # ------------------------------------------------------------------ prices and fills
    def set_mark(self, symbol: str, price: float, now_ms: int | None = None) -> None:
        """Move the price; resting limit orders it crosses fill at their limit price, then the
        conditional orders it reaches are triggered (:meth:`_trigger`)."""
        now_ms = now_ms or _now_ms()
        with self.lock:
            self.marks[symbol] = price
            for order in list(self.orders.values()):
                if order.symbol == symbol and order.type == "LIMIT" and order.is_open:
                    self._cross(order, now_ms)
            if self.mirror is None:  # in mirror mode the source decides every fill
                for algo in list(self.algo_orders.values()):
                    if algo.symbol == symbol and algo.status == "NEW":
                        self._trigger(algo, price, now_ms)

    def _trigger(self, algo: VenueOrder, mark: float, now_ms: int) -> None:
        """A conditional order the price reached becomes a market order of its own, under the
        algo order's client id, reduce-only as it was; one with no position left to reduce
        ends EXPIRED with no order (``conditional.py``: what Binance documents)."""
        if not triggers(algo.type, algo.side, algo.stop_price, mark):
            return
        algo.trigger_time = algo.updated = now_ms
        held = self.positions.get(algo.symbol, Position()).amount
        closable = round(-held if algo.side == "BUY" else held, 12)
        # closePosition: the whole position on the order's exit side, whatever its size now
        qty = closable if algo.close_position else algo.quantity
        if algo.reduce_only or algo.close_position:
            qty = min(qty, closable)
            if qty <= 1e-12:
                algo.status = "EXPIRED"
                return
        order = VenueOrder(
            next(self._ids),
            algo.client_order_id,
            algo.symbol,
            algo.side,
            "MARKET",
            qty,
            0.0,
            algo.reduce_only or algo.close_position,
            now_ms,
            updated=now_ms,
        )
        self.orders[order.order_id] = order
        self.by_client_id.setdefault(order.client_order_id, order.order_id)
        algo.actual_order_id, algo.status = order.order_id, "TRIGGERED"
        self._fill_market(order, now_ms)

    def algo_status(self, algo: VenueOrder) -> str:
        """``algoStatus``: a triggered order is FINISHED once the order it became has ended."""
        actual = self.orders.get(algo.actual_order_id)
        if algo.status == "TRIGGERED" and actual is not None and not actual.is_open:
            return "FINISHED"
        return algo.status

    def actual_order(self, algo: VenueOrder) -> VenueOrder | None:
        return self.orders.get(algo.actual_order_id) if algo.actual_order_id else None

    def release(self, now_ms: int | None = None) -> int:
        """Fill what a delay or partial fault held back (market orders at the mark); returns
        how many orders moved."""
        now_ms, moved = now_ms or _now_ms(), 0
        with self.lock:
            for order in list(self.orders.values()):
                if order.is_open and order.held > 0:
                    qty, order.held = order.held, 0.0
                    price = self.marks[order.symbol] if order.type == "MARKET" else order.price
                    self._execute(order, qty, price, now_ms, maker=order.type == "LIMIT")
                    moved += 1
        return moved

    def fill(self, client_order_id: str, qty: float, price: float | None = None) -> None:
        """Fill ``qty`` of an open order now (a test's partial fill)."""
        now_ms = _now_ms()
        with self.lock:
            order = self.find(client_order_id=client_order_id)
            px = price if price is not None else (order.price or self.marks[order.symbol])
            order.held = max(0.0, order.held - qty)
            self._execute(order, qty, px, now_ms, maker=order.type == "LIMIT")

    def _fill_market(self, order: VenueOrder, now_ms: int) -> None:
        if self.delay_fills:
            order.held = order.quantity
            return
        qty = order.quantity
        if self.partial_ratio is not None:
            qty = _round_step(order.quantity * self.partial_ratio, MARKETS[order.symbol].step)
            order.held = order.quantity - qty
        if qty > 0:
            self._execute(order, qty, self.marks[order.symbol], now_ms, maker=False)

    def _cross(self, order: VenueOrder, now_ms: int) -> None:
        mark = self.marks[order.symbol]
        crossed = mark <= order.price if order.side == "BUY" else mark >= order.price
        remaining = order.quantity - order.filled - order.held
        if not crossed or remaining <= 1e-12:
            return
        expire_rest = False
        if order.reduce_only:  # never opens or grows a position: the rest expires
            held = self.positions.get(order.symbol, Position()).amount
            closing = round(-held if order.side == "BUY" else held, 12)
            if closing <= 1e-12:
                order.status, order.updated = "EXPIRED", now_ms
                return
            expire_rest, remaining = closing < remaining, min(remaining, closing)
        if self.delay_fills:
            order.held += remaining
            return
        qty = remaining
        if self.partial_ratio is not None:
            qty = _round_step(remaining * self.partial_ratio, MARKETS[order.symbol].step)
            order.held += remaining - qty
        if qty > 0:
            self._execute(order, qty, order.price, now_ms, maker=True)
        if expire_rest and order.held <= 0:
            order.status = "EXPIRED"

    def _execute(
        self,
        order: VenueOrder,
        qty: float,
        price: float,
        now_ms: int,
        maker: bool,
        fee: float | None = None,
    ) -> None:
        if fee is None:
            rates = self.commission_rates(order.symbol)
            fee = qty * price * (rates[0] if maker else rates[1])
        realized = self._book_position(order.symbol, order.side, qty, price)
        self.wallet += realized - fee
        order.filled = round(order.filled + qty, 12)
        order.quote += qty * price
        order.updated = now_ms
        order.status = "FILLED" if order.filled >= order.quantity - 1e-12 else "PARTIALLY_FILLED"
        self.trades.append(
            Trade(
                next(self._trade_ids),
                order.order_id,
                order.symbol,
                order.side,
                price,
                qty,
                fee,
                maker,
                realized,
                now_ms,
            )
        )

    def _book_position(self, symbol: str, side: str, qty: float, price: float) -> float:
        pos = self.positions.setdefault(symbol, Position())
        signed = qty if side == "BUY" else -qty
        realized = 0.0
        if pos.amount == 0 or (pos.amount > 0) == (signed > 0):
            total = pos.amount + signed
            pos.entry = (pos.entry * abs(pos.amount) + price * qty) / abs(total)
            pos.amount = total
            return 0.0
        closing = min(abs(signed), abs(pos.amount))
        realized = closing * (price - pos.entry) * (1 if pos.amount > 0 else -1)
        pos.amount = round(pos.amount + signed, 12)
        if pos.amount == 0:
            pos.entry = 0.0
        elif (pos.amount > 0) == (signed > 0):  # flipped: the rest opened at this price
            pos.entry = price
        return realized

    def unrealized(self, symbol: str) -> float:
        pos = self.positions.get(symbol, Position())
        return pos.amount * (self.marks[symbol] - pos.entry) if pos.amount else 0.0


def _check_close_position(type: str, quantity: float, algo: bool) -> None:
    """``closePosition=true`` is taken with the two conditional market types only, and with no
    quantity (Binance: ``-4136`` for another type, ``-4137`` for a quantity)."""
    if not algo or type not in CONDITIONAL_TYPES:
        raise VenueError(
            400, -4136, f"Target strategy invalid for orderType {type}, closePosition true"
        )
    if quantity != 0:
        raise VenueError(400, -4137, "Quantity must be zero with closePosition equals true")


def _check_type(type: str, stop_price: float, algo: bool) -> None:
    """The order types the double takes, on the endpoint Binance takes them on since the move
    of conditional orders to the algo-order API."""
    if algo:
        if type not in CONDITIONAL_TYPES:
            raise VenueError(400, -1116, "Invalid orderType.")
        if stop_price <= 0:
            raise VenueError(400, -1102, "Mandatory parameter 'triggerPrice' was not sent.")
    elif type in CONDITIONAL_TYPES:
        raise VenueError(
            400,
            -4120,
            "Order type not supported for this endpoint. Please use the Algo Order API "
            "endpoints instead.",
        )
    elif type not in ("MARKET", "LIMIT"):
        raise VenueError(400, -1116, "Invalid orderType.")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _round_step(qty: float, step: float) -> float:
    return round(int(qty / step + 1e-9) * step, 12)
