"""Neutral: stand aside; close whatever is open."""

from __future__ import annotations

from quantum_trader.domain.orders import Side
from quantum_trader.domain.signals import Signal
from quantum_trader.strategy.market_state import MarketState
from quantum_trader.strategy.strategies.base import Strategy


class Neutral(Strategy):
    name = "Neutral"

    def entry(self, signal: Signal, market: MarketState) -> tuple[Side, str] | None:
        return None

    def rule(self, market: MarketState) -> tuple[Side, str] | None:
        return None

    def exit_reason(self, signal: Signal, market: MarketState, position: float) -> str | None:
        return "neutral strategy stands aside"
