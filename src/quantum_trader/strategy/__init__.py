"""Regime detection, strategies, strategy selection, position sizing, meta strategy controller."""

from quantum_trader.strategy.intents import TradeAction, TradeIntent
from quantum_trader.strategy.market_state import MarketState, MarketStateTracker
from quantum_trader.strategy.meta_controller import MetaControllerConfig, MetaStrategyController
from quantum_trader.strategy.regime import Regime, RegimeConfig, RegimeDetector
from quantum_trader.strategy.risk_modes import DEFAULT_MODE_POLICIES, ModeChange
from quantum_trader.strategy.selector import (
    RegimeRuleSelector,
    SelectionContext,
    StrategyChoice,
    StrategySelector,
)
from quantum_trader.strategy.sizing import (
    FixedFractionalSizer,
    PositionSizer,
    SizingRequest,
    SizingResult,
    to_order_intent,
)

__all__ = [
    "DEFAULT_MODE_POLICIES",
    "FixedFractionalSizer",
    "MarketState",
    "MarketStateTracker",
    "MetaControllerConfig",
    "MetaStrategyController",
    "ModeChange",
    "PositionSizer",
    "Regime",
    "RegimeConfig",
    "RegimeDetector",
    "RegimeRuleSelector",
    "SelectionContext",
    "SizingRequest",
    "SizingResult",
    "StrategyChoice",
    "StrategySelector",
    "TradeAction",
    "TradeIntent",
    "to_order_intent",
]
