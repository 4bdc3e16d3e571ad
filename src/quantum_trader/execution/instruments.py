"""Per-symbol trading rules: tick size, step size, minimum notional, leverage and margin.

Values for BTCUSDT and ETHUSDT follow Binance USDT-M's published filters and first margin tier
(simplified to one tier per symbol, see docs/execution.md). Other symbols get a spec inferred from
their price data (``infer_spec``), with conservative generic limits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from quantum_trader.domain import checks
from quantum_trader.domain.errors import DomainValidationError


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """Trading rules of one symbol.

    >>> spec = SymbolSpec("BTCUSDT", tick_size=0.1, step_size=0.001, min_notional=100.0)
    >>> spec.on_tick(65000.1), spec.on_tick(65000.05)
    (True, False)
    """

    symbol: str
    tick_size: float
    step_size: float
    min_notional: float
    max_leverage: float = 20.0
    maintenance_margin_rate: float = 0.005

    def __post_init__(self) -> None:
        checks.non_empty("SymbolSpec", "symbol", self.symbol)
        checks.positive("SymbolSpec", "tick_size", self.tick_size)
        checks.positive("SymbolSpec", "step_size", self.step_size)
        checks.non_negative("SymbolSpec", "min_notional", self.min_notional)
        checks.positive("SymbolSpec", "max_leverage", self.max_leverage)
        if not 0 < self.maintenance_margin_rate < 1 / self.max_leverage:
            raise DomainValidationError(
                "SymbolSpec",
                "maintenance_margin_rate",
                self.maintenance_margin_rate,
                f"must be in (0, 1/max_leverage = {1 / self.max_leverage})",
            )

    def on_tick(self, price: float) -> bool:
        return _on_grid(price, self.tick_size)

    def on_step(self, quantity: float) -> bool:
        return _on_grid(quantity, self.step_size)

    def round_price(self, price: float, *, up: bool) -> float:
        """The nearest tick at or above (``up``) or at or below ``price``."""
        steps = price / self.tick_size
        n = math.ceil(steps - 1e-9) if up else math.floor(steps + 1e-9)
        return round(n * self.tick_size, _decimals(self.tick_size))

    def floor_quantity(self, quantity: float) -> float:
        n = math.floor(quantity / self.step_size + 1e-9)
        return round(n * self.step_size, _decimals(self.step_size))


def _on_grid(value: float, step: float) -> bool:
    ratio = value / step
    return abs(ratio - round(ratio)) <= 1e-6


def _decimals(step: float) -> int:
    text = f"{step:.12f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


BINANCE_USDM: Mapping[str, SymbolSpec] = {
    "BTCUSDT": SymbolSpec("BTCUSDT", 0.1, 0.001, 100.0, 125.0, 0.004),
    "ETHUSDT": SymbolSpec("ETHUSDT", 0.01, 0.001, 20.0, 100.0, 0.005),
}


def infer_spec(symbol: str, prices: Iterable[float], *, max_leverage: float = 20.0) -> SymbolSpec:
    """A spec for a symbol without published filters: the tick is the finest decimal seen.

    >>> infer_spec("XYZUSDT", [1.234, 1.25, 1.2]).tick_size
    0.001
    """
    decimals = 0
    for price in prices:
        text = f"{price:.8f}".rstrip("0").rstrip(".")
        if "." in text:
            decimals = max(decimals, len(text.split(".")[1]))
    tick = round(10.0**-decimals, decimals)
    return SymbolSpec(symbol, tick, 0.001 if decimals < 4 else 1.0, 5.0, max_leverage, 0.01)


def spec_for(symbol: str, prices: Iterable[float]) -> SymbolSpec:
    """The published spec where known, else one inferred from ``prices``."""
    return BINANCE_USDM.get(symbol) or infer_spec(symbol, prices)
