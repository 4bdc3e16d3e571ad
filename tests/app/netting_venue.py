"""A small in-memory venue account for main-job tests of ``run --venue testnet``: it nets
fills into positions, keeps a wallet (fees and realised PnL), fills market orders at the last
closed candle's close when polled, and triggers stop-market and limit exits at that price.

Not an exchange double (that speaks HTTP to ccxt: tests/exchange_double/); this sits where
``CcxtVenue`` sits, behind the ``RemoteVenue`` port.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType, Side
from quantum_trader.domain.positions import Position
from quantum_trader.execution.venue import ExecutionListener, VenueFunding

TAKER = 0.0005


class NettingVenue:
    def __init__(self, price: Callable[[str], float], now: Callable[[], int], balance: float):
        self.price = price
        self.now = now
        self.wallet = balance
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self.held: dict[str, Position] = {}
        self.submits = 0
        self.polls = 0
        self._listener: ExecutionListener | None = None

    def set_listener(self, listener: ExecutionListener) -> None:
        self._listener = listener

    def set_leverage(self, symbol: str, leverage: float) -> None:
        return None

    def submit(self, order: Order, good_till: int | None = None) -> Order:
        self.submits += 1
        if order.client_order_id in self.orders:  # the venue refuses a repeated client id
            raise AssertionError(f"duplicate client order id {order.client_order_id}")
        self.orders[order.client_order_id] = order
        return order

    def cancel(self, client_order_id: str) -> Order:
        order = self.orders[client_order_id]
        if not order.status.is_terminal:
            order = order.transition(OrderStatus.CANCELED, self.now(), "canceled by client")
            self.orders[client_order_id] = order
        return order

    def fetch_order(self, client_order_id: str) -> Order | None:
        return self.orders.get(client_order_id)

    def track(self, orders: Iterable[Order]) -> None:
        return None  # it holds every order it was sent, across the engine's restarts

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if not o.status.is_terminal]

    def funding_since(self, since_ms: int) -> list[VenueFunding]:
        return []  # no funding settles here

    def recent_fills(self, since_ms: int) -> list[Fill]:
        return [f for f in self.fills if f.time >= since_ms]

    def positions(self) -> dict[str, Position]:
        return {s: p for s, p in self.held.items() if p.quantity != 0}

    def balance(self) -> float:
        return self.wallet

    def poll(self) -> list[Order]:
        self.polls += 1
        out = []
        for cid, order in list(self.orders.items()):
            if order.status.is_terminal:
                continue
            price = self.price(order.symbol)
            if not self._triggers(order, price):
                continue
            qty = order.quantity
            held = self.held.get(order.symbol)
            if order.reduce_only:
                size = abs(held.quantity) if held else 0.0
                if size == 0 or (held and (held.quantity > 0) == (order.side is Side.BUY)):
                    self.orders[cid] = order.transition(
                        OrderStatus.CANCELED, self.now(), "reduce-only: nothing to reduce"
                    )
                    continue
                qty = min(qty, size)
            out.append(self._fill(order, qty, price))
        return out

    @staticmethod
    def _triggers(order: Order, price: float) -> bool:
        if order.order_type is OrderType.MARKET:
            return True
        if order.order_type is OrderType.STOP_MARKET and order.stop_price is not None:
            return (
                price <= order.stop_price if order.side is Side.SELL else price >= order.stop_price
            )
        if order.order_type is OrderType.LIMIT and order.price is not None:
            return price >= order.price if order.side is Side.SELL else price <= order.price
        return False

    def _fill(self, order: Order, qty: float, price: float) -> Order:
        now = self.now()
        fee = qty * price * TAKER
        self._net(order.symbol, qty if order.side is Side.BUY else -qty, price)
        self.wallet -= fee
        filled = order.apply_fill(qty, price, now)
        if qty < order.quantity:  # a clipped reduce-only: the rest is cancelled
            filled = filled.transition(OrderStatus.CANCELED, now, "reduce-only remainder")
        self.orders[order.client_order_id] = filled
        fill = Fill(
            f"{order.client_order_id}@{qty:.12g}",
            order.client_order_id,
            order.symbol,
            order.side,
            qty,
            price,
            fee,
            now,
        )
        self.fills.append(fill)
        assert self._listener is not None
        self._listener.on_fill(fill, filled)
        return filled

    def _net(self, symbol: str, signed: float, price: float) -> None:
        held = self.held.get(symbol) or Position(symbol)
        qty, entry = held.quantity, held.entry_price
        if qty == 0 or (qty > 0) == (signed > 0):
            total = qty + signed
            entry = (entry * abs(qty) + price * abs(signed)) / abs(total)
            self.held[symbol] = Position(symbol, total, entry, held.leverage)
            return
        closed = min(abs(signed), abs(qty))
        self.wallet += closed * (price - entry) * (1 if qty > 0 else -1)
        rest = qty + signed
        if abs(rest) < 1e-12:
            self.held[symbol] = Position(symbol, 0.0, 0.0, held.leverage)
        elif (rest > 0) == (qty > 0):
            self.held[symbol] = Position(symbol, rest, entry, held.leverage)
        else:
            self.held[symbol] = Position(symbol, rest, price, held.leverage)
