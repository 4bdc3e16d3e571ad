"""Tiny scripted strategies for tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quantum_trader.domain.orders import Side
from quantum_trader.engine.trader import TradingContext


class BuyAndHold:
    """Buys ``quantity`` on the first candle of each symbol (short when ``quantity`` < 0)."""

    name = "buy_and_hold"

    def __init__(self, quantity: float, leverage: float = 1.0) -> None:
        self.quantity = quantity
        self.leverage = leverage
        self._done: set[str] = set()
        self._ctx: TradingContext | None = None

    def bind(self, context: TradingContext) -> None:
        self._ctx = context

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
    ) -> None:
        if symbol in self._done or self._ctx is None:
            return
        self._done.add(symbol)
        side = Side.BUY if self.quantity > 0 else Side.SELL
        self._ctx.orders.submit(symbol, side, abs(self.quantity), leverage=self.leverage)

    def state(self) -> dict[str, Any]:
        return {"done": sorted(self._done)}

    def restore(self, state: Mapping[str, Any]) -> None:
        self._done = set(state["done"])
