"""Trend following: trade with the signal when the regime trends the same way."""

from __future__ import annotations

from quantum_trader.domain.orders import Side
from quantum_trader.domain.signals import Direction, Signal
from quantum_trader.strategy.market_state import MarketState
from quantum_trader.strategy.regime import Regime
from quantum_trader.strategy.strategies.base import Strategy, signal_side


class TrendFollowing(Strategy):
    name = "TrendFollowing"

    def entry(self, signal: Signal, market: MarketState) -> tuple[Side, str] | None:
        side = signal_side(signal)
        if side is Side.BUY and market.regime is Regime.BULL:
            return side, "signal UP in a BULL regime"
        if side is Side.SELL and market.regime is Regime.BEAR:
            return side, "signal DOWN in a BEAR regime"
        return None

    def rule(self, market: MarketState) -> tuple[Side, str] | None:
        if market.regime is Regime.BULL:
            return Side.BUY, "BULL regime"
        if market.regime is Regime.BEAR:
            return Side.SELL, "BEAR regime"
        return None

    def exit_reason(self, signal: Signal, market: MarketState, position: float) -> str | None:
        against = Direction.DOWN if position > 0 else Direction.UP
        turned = signal.direction is against and signal.confidence >= self.config.min_confidence
        if turned and not self.primary:
            return f"signal turned {against}"
        trend = Regime.BULL if position > 0 else Regime.BEAR
        if market.regime is not None and market.regime is not trend:
            return f"regime left {trend} ({market.regime})"
        return None
