"""Trade intents: what a strategy wants (enter or exit), before sizing and risk checks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from quantum_trader.domain import checks
from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.orders import Side


class TradeAction(StrEnum):
    ENTRY = "ENTRY"
    EXIT = "EXIT"


@dataclass(frozen=True, slots=True)
class TradeIntent:
    """An entry (with stop-loss and take-profit) or an exit of the whole position."""

    symbol: str
    time: int
    action: TradeAction
    side: Side
    price: float
    strategy: str
    reason: str
    confidence: float
    stop_loss: float | None = None
    take_profit: float | None = None

    def __post_init__(self) -> None:
        checks.positive("TradeIntent", "price", self.price)
        checks.probability("TradeIntent", "confidence", self.confidence)
        if self.action is TradeAction.ENTRY:
            if self.stop_loss is None or self.take_profit is None:
                raise DomainValidationError(
                    "TradeIntent", "stop_loss", self.stop_loss, "an entry needs stop and target"
                )
            long = self.side is Side.BUY
            if (self.stop_loss >= self.price) if long else (self.stop_loss <= self.price):
                raise DomainValidationError(
                    "TradeIntent", "stop_loss", self.stop_loss, f"wrong side of {self.price}"
                )
            if (self.take_profit <= self.price) if long else (self.take_profit >= self.price):
                raise DomainValidationError(
                    "TradeIntent", "take_profit", self.take_profit, f"wrong side of {self.price}"
                )

    @property
    def stop_distance(self) -> float:
        return 0.0 if self.stop_loss is None else abs(self.price - self.stop_loss)
