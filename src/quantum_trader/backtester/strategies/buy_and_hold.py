"""Buy and hold, equal weight: the baseline every trading system is first compared with.

On the first candle of each symbol it sends one market buy of ``1 / len(symbols)`` of the
starting equity (less a small reserve for the fees and the next open's gap), filled at the next
candle's open like any order, and holds to the end: it pays the entry fee and the funding of a
long position, as the system would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.orders import OrderType, Side
from quantum_trader.engine.trader import TradingContext

#: the part of each symbol's share kept back for the entry fee and the gap to the fill price
RESERVE = 0.01


class BuyAndHold:
    """Long every symbol once, in equal parts of the starting equity, and hold.

    ``state()`` records the symbols already bought, so a resumed session does not buy twice.
    """

    name = "buy_and_hold"

    def __init__(self, symbols: Sequence[str], *, leverage: float = 1.0) -> None:
        if not symbols:
            raise ConfigError("buy and hold needs at least one symbol")
        self.symbols = tuple(symbols)
        self.leverage = leverage
        self._bought: set[str] = set()
        self._context: TradingContext | None = None
        self._budget = 0.0

    def bind(self, context: TradingContext) -> None:
        self._context = context

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
        context = self._context
        if context is None:
            raise RuntimeError("BuyAndHold.on_bar before bind()")
        if symbol in self._bought or symbol not in self.symbols:
            return
        self._bought.add(symbol)
        if self._budget <= 0:  # the account is funded after bind(): its first bar fixes the share
            self._budget = context.portfolio.equity * (1 - RESERVE) / len(self.symbols)
        quantity = context.orders.specs[symbol].floor_quantity(self._budget * self.leverage / c)
        if quantity > 0:
            context.orders.submit(
                symbol, Side.BUY, quantity, OrderType.MARKET, leverage=self.leverage, tag="hold"
            )

    def state(self) -> dict[str, Any]:
        return {"bought": sorted(self._bought), "budget": self._budget}

    def restore(self, state: Mapping[str, Any]) -> None:
        self._bought = set(state.get("bought", ()))
        self._budget = float(state.get("budget", self._budget))
