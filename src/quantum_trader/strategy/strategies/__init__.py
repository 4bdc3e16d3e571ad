"""The four strategies, one small file each over :class:`Strategy`."""

from quantum_trader.strategy.strategies.base import Strategy, StrategyConfig
from quantum_trader.strategy.strategies.breakout import Breakout
from quantum_trader.strategy.strategies.cross_sectional import CrossSectional
from quantum_trader.strategy.strategies.mean_reversion import MeanReversion
from quantum_trader.strategy.strategies.neutral import Neutral
from quantum_trader.strategy.strategies.trend_following import TrendFollowing


def default_strategies(config: StrategyConfig | None = None) -> dict[str, Strategy]:
    """One instance of each strategy, by name (CrossSectional trades only when a selector
    names it: the regime rules and the learning agents choose among the other four)."""
    items: list[Strategy] = [
        TrendFollowing(config),
        MeanReversion(config),
        Breakout(config),
        Neutral(config),
        CrossSectional(config),
    ]
    return {s.name: s for s in items}


__all__ = [
    "Breakout",
    "CrossSectional",
    "MeanReversion",
    "Neutral",
    "Strategy",
    "StrategyConfig",
    "TrendFollowing",
    "default_strategies",
]
