"""The bar-strategy plug-in interface: a hook per closed candle, a JSON-safe state for resume."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.portfolio.portfolio import Portfolio


@dataclass(frozen=True, slots=True)
class TradingContext:
    """What a strategy acts through: the order manager, and the portfolio to read."""

    orders: OrderManager
    portfolio: Portfolio


class BarStrategy(Protocol):
    name: str

    def bind(self, context: TradingContext) -> None: ...

    def on_bar(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None: ...

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: Mapping[str, Any]) -> None: ...
