"""Maker/taker fees of the simulated exchange (fractions of the fill notional)."""

from __future__ import annotations

from dataclasses import dataclass

from quantum_trader.domain import checks


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Binance USDT-M regular-tier defaults: maker 0.02 %, taker 0.05 %.

    >>> FeeSchedule().fee(2, 100.0, is_maker=False)
    0.1
    """

    maker: float = 0.0002
    taker: float = 0.0005

    def __post_init__(self) -> None:
        checks.finite("FeeSchedule", "maker", self.maker)
        checks.non_negative("FeeSchedule", "taker", self.taker)

    def fee(self, quantity: float, price: float, *, is_maker: bool) -> float:
        return quantity * price * (self.maker if is_maker else self.taker)
