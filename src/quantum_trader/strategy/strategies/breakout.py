"""Breakout: enter when the close leaves the channel in the signal's direction."""

from __future__ import annotations

from quantum_trader.domain.orders import Side
from quantum_trader.domain.signals import Signal
from quantum_trader.strategy.market_state import MarketState
from quantum_trader.strategy.strategies.base import Strategy, signal_side


class Breakout(Strategy):
    name = "Breakout"

    def entry(self, signal: Signal, market: MarketState) -> tuple[Side, str] | None:
        side = signal_side(signal)
        if side is Side.BUY and market.close > market.channel_high:
            return side, f"close {market.close:g} above channel high {market.channel_high:g}"
        if side is Side.SELL and market.close < market.channel_low:
            return side, f"close {market.close:g} below channel low {market.channel_low:g}"
        return None

    def rule(self, market: MarketState) -> tuple[Side, str] | None:
        if market.close > market.channel_high:
            return Side.BUY, f"close {market.close:g} above channel high {market.channel_high:g}"
        if market.close < market.channel_low:
            return Side.SELL, f"close {market.close:g} below channel low {market.channel_low:g}"
        return None

    def exit_reason(self, signal: Signal, market: MarketState, position: float) -> str | None:
        middle = (market.channel_high + market.channel_low) / 2
        if position > 0 and market.close < middle:
            return f"breakout failed: close {market.close:g} back below channel middle {middle:g}"
        if position < 0 and market.close > middle:
            return f"breakout failed: close {market.close:g} back above channel middle {middle:g}"
        return None
