"""The four strategies, one small file each over :class:`Strategy`."""

from quantum_trader.strategy.strategies.base import Strategy, StrategyConfig
from quantum_trader.strategy.strategies.breakout import Breakout
from quantum_trader.strategy.strategies.mean_reversion import MeanReversion
from quantum_trader.strategy.strategies.neutral import Neutral
from quantum_trader.strategy.strategies.trend_following import TrendFollowing


def default_strategies(config: StrategyConfig | None = None) -> dict[str, Strategy]:
    """One instance of each strategy, by name."""
    items: list[Strategy] = [
        TrendFollowing(config),
        MeanReversion(config),
        Breakout(config),
        Neutral(config),
    ]
    return {s.name: s for s in items}


__all__ = [
    "Breakout",
    "MeanReversion",
    "Neutral",
    "Strategy",
    "StrategyConfig",
    "TrendFollowing",
    "default_strategies",
]
