"""Order intents, orders with their state machine, and fills."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from quantum_trader.domain import checks
from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.errors import DomainValidationError, InvalidTransitionError
from quantum_trader.domain.records import record_builder

_INF = float("inf")


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)

#: The order state machine: NEW → PARTIALLY_FILLED → FILLED / CANCELED / REJECTED / EXPIRED.
ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.REJECTED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}


def _check_prices(type_name: str, price: float | None, stop_price: float | None) -> None:
    if price is not None:
        checks.positive(type_name, "price", price)
    if stop_price is not None:
        checks.positive(type_name, "stop_price", stop_price)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy wants, before sizing adjustments and risk checks."""

    symbol: str
    side: Side
    quantity: float
    order_type: OrderType = OrderType.MARKET
    price: float | None = None
    stop_price: float | None = None
    reduce_only: bool = False
    stop_loss: float | None = None
    take_profit: float | None = None
    leverage: float = 1.0
    reason: str = ""

    def __post_init__(self) -> None:
        checks.non_empty("OrderIntent", "symbol", self.symbol)
        checks.positive("OrderIntent", "quantity", self.quantity)
        checks.positive("OrderIntent", "leverage", self.leverage)
        _check_prices("OrderIntent", self.price, self.stop_price)
        for name in ("stop_loss", "take_profit"):
            value = getattr(self, name)
            if value is not None:
                checks.positive("OrderIntent", name, value)
        if self.order_type is OrderType.LIMIT and self.price is None:
            raise DomainValidationError("OrderIntent", "price", None, "a LIMIT order needs a price")
        if self.order_type is OrderType.STOP_MARKET and self.stop_price is None:
            raise DomainValidationError(
                "OrderIntent", "stop_price", None, "a STOP_MARKET order needs a stop price"
            )


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the system tracks it. Immutable: transitions return a new Order."""

    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: float
    created_at: int
    price: float | None = None
    stop_price: float | None = None
    reduce_only: bool = False
    status: OrderStatus = OrderStatus.NEW
    filled_quantity: float = 0.0
    average_price: float = 0.0
    updated_at: int | None = None
    reason: str = ""
    #: what decided it (the decision path's orders; None for rule traders and operators)
    decision: DecisionRef | None = None

    def __post_init__(self) -> None:
        # one chained test first (orders are built on every submit and fill of a replay);
        # only a record that fails it goes through the checks that name the field
        try:
            if (
                self.client_order_id
                and self.symbol
                and 0.0 < self.quantity < _INF
                and 0.0 <= self.filled_quantity <= self.quantity * (1 + 1e-12)
                and (self.price is None or 0.0 < self.price < _INF)
                and (self.stop_price is None or 0.0 < self.stop_price < _INF)
            ):
                return
        except TypeError:
            pass  # not a number: the checks below say which field
        checks.non_empty("Order", "client_order_id", self.client_order_id)
        checks.non_empty("Order", "symbol", self.symbol)
        checks.positive("Order", "quantity", self.quantity)
        checks.non_negative("Order", "filled_quantity", self.filled_quantity)
        _check_prices("Order", self.price, self.stop_price)
        if self.filled_quantity > self.quantity * (1 + 1e-12):
            raise DomainValidationError(
                "Order",
                "filled_quantity",
                self.filled_quantity,
                f"exceeds quantity {self.quantity}",
            )

    @property
    def remaining(self) -> float:
        return max(self.quantity - self.filled_quantity, 0.0)

    def transition(self, status: OrderStatus, at: int, reason: str = "") -> Order:
        """Move to ``status`` if the state machine allows it, else raise."""
        if status not in ALLOWED_TRANSITIONS[self.status]:
            raise InvalidTransitionError(
                f"order {self.client_order_id}: {self.status} → {status} is not allowed"
            )
        return replace(self, status=status, updated_at=at, reason=reason or self.reason)

    def apply_fill(self, quantity: float, price: float, at: int) -> Order:
        """Record a fill; the status becomes PARTIALLY_FILLED or FILLED."""
        checks.positive("Fill", "quantity", quantity)
        checks.positive("Fill", "price", price)
        if quantity > self.remaining * (1 + 1e-9):
            raise DomainValidationError(
                "Fill",
                "quantity",
                quantity,
                f"exceeds remaining {self.remaining} of {self.client_order_id}",
            )
        filled = min(self.filled_quantity + quantity, self.quantity)
        avg = (self.average_price * self.filled_quantity + price * quantity) / filled
        done = filled >= self.quantity * (1 - 1e-9)
        status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        moved = self.transition(status, at)
        return replace(moved, filled_quantity=self.quantity if done else filled, average_price=avg)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution against an order."""

    fill_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float
    time: int
    is_maker: bool = False

    def __post_init__(self) -> None:
        try:
            if 0.0 < self.quantity < _INF and 0.0 < self.price < _INF and -_INF < self.fee < _INF:
                return  # the common case in one test; the checks below name a bad field
        except TypeError:
            pass
        checks.positive("Fill", "quantity", self.quantity)
        checks.positive("Fill", "price", self.price)
        checks.finite("Fill", "fee", self.fee)

    @property
    def notional(self) -> float:
        return self.quantity * self.price


#: Positional constructors for the replay's hot path: the same records and checks, built faster
#: (see ``domain.records``).
build_order = record_builder(Order)
build_fill = record_builder(Fill)


def filled_order(order: Order, quantity: float, price: float, time: int) -> Order:
    """The same result as ``order.apply_fill(quantity, price, time)``, built with one constructor
    call: ``dataclasses.replace`` twice per fill was the largest cost of a replay's fill path.
    The state machine and the overfill rule are checked the same way (tests compare both)."""
    remaining = order.quantity - order.filled_quantity  # ``order.remaining`` without the call
    if quantity > max(remaining, 0.0) * (1 + 1e-9):
        raise DomainValidationError(
            "Fill",
            "quantity",
            quantity,
            f"exceeds remaining {order.remaining} of {order.client_order_id}",
        )
    filled = min(order.filled_quantity + quantity, order.quantity)
    average = (order.average_price * order.filled_quantity + price * quantity) / filled
    done = filled >= order.quantity * (1 - 1e-9)
    status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
    if status not in ALLOWED_TRANSITIONS[order.status]:
        raise InvalidTransitionError(
            f"order {order.client_order_id}: {order.status} → {status} is not allowed"
        )
    return build_order(
        order.client_order_id,
        order.symbol,
        order.side,
        order.order_type,
        order.quantity,
        order.created_at,
        order.price,
        order.stop_price,
        order.reduce_only,
        status,
        order.quantity if done else filled,
        average,
        time,
        order.reason,
        order.decision,
    )
