"""Mean reversion: fade a close stretched beyond the band, targeting the mean."""

from __future__ import annotations

from quantum_trader.domain.orders import Side
from quantum_trader.domain.signals import Direction, Signal
from quantum_trader.strategy.market_state import MarketState
from quantum_trader.strategy.strategies.base import Strategy, StrategyConfig


class MeanReversion(Strategy):
    name = "MeanReversion"

    def __init__(self, config: StrategyConfig | None = None, *, entry_z: float = 2.0) -> None:
        super().__init__(config)
        self.entry_z = entry_z

    def entry(self, signal: Signal, market: MarketState) -> tuple[Side, str] | None:
        z = market.band_z
        if z <= -self.entry_z and signal.direction is not Direction.DOWN:
            return Side.BUY, f"close {z:.1f} sd below its mean, signal not DOWN"
        if z >= self.entry_z and signal.direction is not Direction.UP:
            return Side.SELL, f"close {z:.1f} sd above its mean, signal not UP"
        return None

    def rule(self, market: MarketState) -> tuple[Side, str] | None:
        z = market.band_z
        if z <= -self.entry_z:
            return Side.BUY, f"close {z:.1f} sd below its mean"
        if z >= self.entry_z:
            return Side.SELL, f"close {z:.1f} sd above its mean"
        return None

    def take_profit(self, side: Side, market: MarketState, stop_distance: float) -> float:
        # the mean, when it lies on the winning side; else the default multiple
        if (market.mean - market.close) * side.sign > 0:
            return market.mean
        return super().take_profit(side, market, stop_distance)

    def exit_reason(self, signal: Signal, market: MarketState, position: float) -> str | None:
        z = market.band_z
        if (position > 0 and z >= 0) or (position < 0 and z <= 0):
            return f"price reverted to its mean (z {z:.1f})"
        return None
