"""Rule-based traders for backtests (the SMA crossover is the first)."""

from quantum_trader.backtester.strategies.sma_cross import SmaCross, SmaCrossConfig

__all__ = ["SmaCross", "SmaCrossConfig"]
