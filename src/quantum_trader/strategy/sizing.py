"""Position sizing: the port the RL sizing agent will implement, and fixed-fractional default.

Fixed fractional: risk a fixed fraction of equity between entry and stop,

    quantity = risk_per_trade × equity / |entry − stop|

then cap the notional so that gross exposure stays within ``max_leverage × equity``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.orders import OrderIntent
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.strategy.intents import TradeAction, TradeIntent


@dataclass(frozen=True, slots=True)
class SizingRequest:
    intent: TradeIntent
    equity: float
    policy: TradingPolicy
    #: notional of all open positions (for the leverage cap)
    gross_exposure: float = 0.0


@dataclass(frozen=True, slots=True)
class SizingResult:
    quantity: float
    reason: str
    sizer: str


class PositionSizer(Protocol):
    name: str

    def size(self, request: SizingRequest) -> SizingResult: ...


class FixedFractionalSizer:
    """Risk ``fraction`` × ``policy.risk_per_trade`` of equity per trade, capped by leverage.

    >>> from quantum_trader.domain.orders import Side
    >>> i = TradeIntent("BTCUSDT", 0, TradeAction.ENTRY, Side.BUY, 100.0, "T", "", 0.6, 98.0, 104.0)
    >>> FixedFractionalSizer().size(SizingRequest(i, 10_000.0, TradingPolicy())).quantity
    50.0
    """

    name = "fixed_fractional"

    def __init__(self, fraction: float = 1.0) -> None:
        if not 0 < fraction <= 1:
            raise DomainValidationError("FixedFractionalSizer", "fraction", fraction, "in (0, 1]")
        self.fraction = fraction

    def size(self, request: SizingRequest) -> SizingResult:
        intent, policy = request.intent, request.policy
        if intent.action is not TradeAction.ENTRY:
            raise ValueError(f"{self.name}: only entries are sized, got {intent.action}")
        if request.equity <= 0:
            return SizingResult(0.0, f"equity {request.equity:g} is not positive", self.name)
        risk = self.fraction * policy.risk_per_trade * request.equity
        qty = risk / intent.stop_distance
        room = policy.max_leverage * request.equity - request.gross_exposure
        cap = max(room, 0.0) / intent.price
        if qty <= cap:
            return SizingResult(
                qty, f"{risk:g} at risk over stop distance {intent.stop_distance:g}", self.name
            )
        return SizingResult(
            cap, f"capped by leverage {policy.max_leverage:g}× (room {room:g})", self.name
        )


def to_order_intent(intent: TradeIntent, quantity: float, policy: TradingPolicy) -> OrderIntent:
    """The order that carries out a trade intent (exits are reduce-only)."""
    reduce = intent.action is TradeAction.EXIT
    return OrderIntent(
        symbol=intent.symbol,
        side=intent.side,
        quantity=quantity,
        reduce_only=reduce,
        stop_loss=None if reduce else intent.stop_loss,
        take_profit=None if reduce else intent.take_profit,
        leverage=policy.max_leverage,
        reason=f"{intent.strategy}: {intent.reason}",
    )
