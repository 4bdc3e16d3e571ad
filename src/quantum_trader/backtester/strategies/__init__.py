"""Bar strategies for the backtester (the rule-based SMA crossover is the first)."""

from quantum_trader.backtester.strategies.base import (
    BarStrategy,
    FastForwardStrategy,
    TradingContext,
)
from quantum_trader.backtester.strategies.sma_cross import SmaCross, SmaCrossConfig

__all__ = ["BarStrategy", "FastForwardStrategy", "SmaCross", "SmaCrossConfig", "TradingContext"]
