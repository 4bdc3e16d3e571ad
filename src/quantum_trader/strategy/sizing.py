"""Position sizing: the port the RL sizer implements, and its two rule baselines.

Fixed fractional (the default): risk a fixed fraction of equity between entry and stop,

    quantity = risk_per_trade × equity / |entry − stop|

Volatility targeting: hold the notional whose expected move per candle is a fixed fraction of
equity,

    quantity = target_volatility × equity / (volatility × price)

with ``volatility`` the symbol's per-candle volatility as a fraction of price (ATR / close at the
decision). Both cap the notional so that gross exposure stays within ``max_leverage × equity``.
The RL sizer (``agents/rl_sizer.py``) scales one of them by a learned fraction in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.orders import OrderIntent
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.strategy.intents import TradeAction, TradeIntent
from quantum_trader.strategy.selector import SelectionContext


@dataclass(frozen=True, slots=True)
class SizingRequest:
    intent: TradeIntent
    equity: float
    policy: TradingPolicy
    #: notional of all open positions (for the leverage cap)
    gross_exposure: float = 0.0
    #: what the selector saw at this decision (regime, volatility percentile, confidence,
    #: trading state, drawdown): what a learned sizer observes; None for callers without it
    selection: SelectionContext | None = None
    #: the symbol's per-candle volatility as a fraction of price (ATR / close); None: unknown
    volatility: float | None = None
    #: the ensemble's probability that the entry's side wins (``strategy/bet_sizing.py``);
    #: None: no signal behind the entry
    win_probability: float | None = None


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
        why = f"{risk:g} at risk over stop distance {intent.stop_distance:g}"
        return _leverage_capped(qty, why, request, self.name)


class VolatilityTargetSizer:
    """Hold the notional whose per-candle move is ``target_volatility`` of equity, capped by
    leverage. Without a volatility estimate (``request.volatility`` None or not positive) the
    ``fallback`` sizer (fixed fractional) decides, and the reason says so.

    >>> from quantum_trader.domain.orders import Side
    >>> i = TradeIntent("BTCUSDT", 0, TradeAction.ENTRY, Side.BUY, 100.0, "T", "", 0.6, 98.0, 104.0)
    >>> sizer = VolatilityTargetSizer(0.005)
    >>> sizer.size(SizingRequest(i, 10_000.0, TradingPolicy(), volatility=0.01)).quantity
    50.0
    >>> sizer.size(SizingRequest(i, 10_000.0, TradingPolicy(), volatility=0.001)).reason
    'capped by leverage 3× (room 30000)'
    """

    name = "volatility_target"

    def __init__(
        self, target_volatility: float = 0.005, fallback: PositionSizer | None = None
    ) -> None:
        if not 0 < target_volatility <= 0.1:
            raise DomainValidationError(
                "VolatilityTargetSizer", "target_volatility", target_volatility, "in (0, 0.1]"
            )
        self.target_volatility = target_volatility
        self._fallback: PositionSizer = fallback or FixedFractionalSizer()

    def size(self, request: SizingRequest) -> SizingResult:
        intent, vol = request.intent, request.volatility
        if intent.action is not TradeAction.ENTRY:
            raise ValueError(f"{self.name}: only entries are sized, got {intent.action}")
        if vol is None or not vol > 0:  # not positive, or NaN
            done = self._fallback.size(request)
            return SizingResult(
                done.quantity, f"no volatility ({vol}); {done.sizer}: {done.reason}", done.sizer
            )
        if request.equity <= 0:
            return SizingResult(0.0, f"equity {request.equity:g} is not positive", self.name)
        notional = self.target_volatility * request.equity / vol
        why = f"notional {notional:g} at volatility {vol:.4g} for {self.target_volatility:g}"
        return _leverage_capped(notional / intent.price, why, request, self.name)


def _leverage_capped(quantity: float, why: str, request: SizingRequest, sizer: str) -> SizingResult:
    """``quantity``, or the most the leverage cap leaves room for when that is less."""
    policy = request.policy
    room = policy.max_leverage * request.equity - request.gross_exposure
    cap = max(room, 0.0) / request.intent.price
    if quantity <= cap:
        return SizingResult(quantity, why, sizer)
    return SizingResult(cap, f"capped by leverage {policy.max_leverage:g}× (room {room:g})", sizer)


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
