"""Pure domain types and rules: no I/O, no framework imports."""

from quantum_trader.domain.errors import (
    ArtifactIntegrityError,
    ConfigError,
    DataError,
    DomainValidationError,
    InvalidTransitionError,
    LookAheadError,
    OrderRejectedError,
    QuantumTraderError,
)
from quantum_trader.domain.market import Candle, FundingRate
from quantum_trader.domain.orders import Fill, Order, OrderIntent, OrderStatus, OrderType, Side
from quantum_trader.domain.policy import RiskMode, TradingPolicy
from quantum_trader.domain.positions import Position, Trade
from quantum_trader.domain.signals import Direction, ModelVote, Signal, WeightChange

__all__ = [
    "ArtifactIntegrityError",
    "Candle",
    "ConfigError",
    "DataError",
    "Direction",
    "DomainValidationError",
    "Fill",
    "FundingRate",
    "InvalidTransitionError",
    "LookAheadError",
    "ModelVote",
    "Order",
    "OrderIntent",
    "OrderRejectedError",
    "OrderStatus",
    "OrderType",
    "Position",
    "QuantumTraderError",
    "RiskMode",
    "Side",
    "Signal",
    "Trade",
    "TradingPolicy",
    "WeightChange",
]
