"""Pre-trade checks of an order against the symbol's rules. Each failure names what and why."""

from __future__ import annotations

import math
from collections.abc import Mapping

from quantum_trader.domain.orders import OrderType
from quantum_trader.execution.instruments import SymbolSpec

_NUMBER = (int, float)


def order_problem(
    specs: Mapping[str, SymbolSpec],
    symbol: str,
    quantity: float,
    order_type: OrderType,
    price: float | None,
    stop_price: float | None,
    reduce_only: bool,
    leverage: float,
    reference_price: float,
) -> str:
    """The reason ``symbol``'s order breaks a rule, or '' when it is acceptable.

    >>> from quantum_trader.execution.instruments import BINANCE_USDM
    >>> order_problem(BINANCE_USDM, "BTCUSDT", 0.001, OrderType.MARKET, None, None, False, 5, 60000)
    'BTCUSDT: notional 60.0000 USDT below the minimum 100.0'
    """
    if not (isinstance(quantity, _NUMBER) and math.isfinite(quantity)) or quantity <= 0:
        return f"{symbol}: quantity must be a positive number, got {quantity!r}"
    spec = specs.get(symbol)
    if spec is None:
        return f"unknown symbol {symbol!r}; known: {', '.join(sorted(specs))}"
    if not math.isfinite(leverage) or leverage <= 0 or leverage > spec.max_leverage:
        return f"{symbol}: leverage {leverage} outside (0, {spec.max_leverage}] (symbol maximum)"
    if not spec.on_step(quantity):
        return f"{symbol}: quantity {quantity} is not a multiple of the step size {spec.step_size}"
    if order_type is OrderType.LIMIT and price is None:
        return f"{symbol}: a LIMIT order needs a price"
    if order_type is OrderType.STOP_MARKET and stop_price is None:
        return f"{symbol}: a STOP_MARKET order needs a stop price"
    if price is not None or stop_price is not None:
        for name, value in (("price", price), ("stop_price", stop_price)):
            if value is None:
                continue
            if not math.isfinite(value) or value <= 0:
                return f"{symbol}: {name} must be a positive number, got {value!r}"
            if not spec.on_tick(value):
                return f"{symbol}: {name} {value} is off the tick grid ({spec.tick_size})"
    ref = price or stop_price or reference_price
    if not reduce_only and ref > 0 and quantity * ref < spec.min_notional:
        return f"{symbol}: notional {quantity * ref:.4f} USDT below the minimum {spec.min_notional}"
    return ""
