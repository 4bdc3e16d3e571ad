"""Trading policy: the global limits the meta strategy controller publishes.

One type for the limits everywhere: the meta controller publishes it, the policy store keeps it
as JSON under :data:`TRADING_POLICY_KEY` (pydantic validates the dataclass, so the stored JSON
is the same as when the store had its own model), and the risk engine reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from quantum_trader.domain import checks
from quantum_trader.domain.errors import DomainValidationError

#: the policy-store key the global trading policy is published under
TRADING_POLICY_KEY = "trading.global"


class RiskMode(StrEnum):
    CONSERVATIVE = "CONSERVATIVE"
    MODERATE = "MODERATE"
    AGGRESSIVE = "AGGRESSIVE"
    TURBO = "TURBO"


@dataclass(frozen=True, slots=True)
class TradingPolicy:
    """Global limits in force; every order intent is checked against them."""

    #: read by pydantic when the policy store validates a stored or published value
    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}

    risk_mode: RiskMode = RiskMode.MODERATE
    max_open_positions: int = 5
    max_leverage: float = 3.0
    stop_loss_pct: float = 0.02
    risk_per_trade: float = 0.01

    def __post_init__(self) -> None:
        if self.max_open_positions < 0:
            raise DomainValidationError(
                "TradingPolicy", "max_open_positions", self.max_open_positions, "must be >= 0"
            )
        checks.positive("TradingPolicy", "max_leverage", self.max_leverage)
        checks.positive("TradingPolicy", "stop_loss_pct", self.stop_loss_pct)
        if self.stop_loss_pct >= 1:
            raise DomainValidationError(
                "TradingPolicy", "stop_loss_pct", self.stop_loss_pct, "must be < 1"
            )
        checks.positive("TradingPolicy", "risk_per_trade", self.risk_per_trade)
        if self.risk_per_trade > 0.2:
            raise DomainValidationError(
                "TradingPolicy", "risk_per_trade", self.risk_per_trade, "must be <= 0.2 of equity"
            )
