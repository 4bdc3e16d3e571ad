"""The last step of a decision: an approved order intent on the venue's steps, then sent.

Kept out of ``pipeline.py`` (at its size limit): the quantity floored to the venue's step and
the market order with its stop-loss and take-profit bracket.
"""

from __future__ import annotations

from dataclasses import replace

from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.orders import Order, OrderIntent, OrderType
from quantum_trader.engine.trader import TradingContext
from quantum_trader.execution.instruments import SymbolSpec
from quantum_trader.execution.order_manager import Bracket


def on_steps(approved: OrderIntent, spec: SymbolSpec) -> OrderIntent | None:
    """``approved`` at its quantity floored to ``spec``'s step; None below one step."""
    stepped = spec.floor_quantity(approved.quantity)
    if stepped <= 0.0:
        return None
    return approved if stepped == approved.quantity else replace(approved, quantity=stepped)


def submit(approved: OrderIntent, tag: str, ref: DecisionRef, context: TradingContext) -> Order:
    """The market order, with its stop-loss and take-profit bracket for an entry."""
    bracket = Bracket.for_entry(approved, context.orders.specs[approved.symbol])
    return context.orders.submit(
        approved.symbol,
        approved.side,
        approved.quantity,
        OrderType.MARKET,
        reduce_only=approved.reduce_only,
        # an exit keeps the position's leverage; only an entry sets it
        leverage=None if approved.reduce_only else approved.leverage,
        bracket=bracket,
        tag=tag,
        decision=ref,
    )
