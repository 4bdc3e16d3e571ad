"""The read-only view of the portfolio that the risk engine checks orders against.

The portfolio module implements it; the risk engine never changes the portfolio.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """A position as the risk engine sees it: signed quantity (> 0 long) and entry price."""

    quantity: float
    entry_price: float


class PortfolioView(Protocol):
    """What the risk engine reads. All amounts in the quote currency (USDT)."""

    def equity(self) -> float:
        """Balance plus unrealised PnL, now."""
        ...

    def peak_equity(self) -> float:
        """Highest equity seen so far (the drawdown reference)."""
        ...

    def daily_pnl(self) -> float:
        """Realised plus unrealised PnL since the start of the current UTC day."""
        ...

    def open_positions(self) -> Mapping[str, OpenPosition]:
        """Non-flat positions by symbol."""
        ...

    def mark_price(self, symbol: str) -> float | None:
        """The latest price of ``symbol``, or None if none is known."""
        ...

    def last_candle_close_time(self, symbol: str) -> int | None:
        """Close time (epoch ms) of the newest closed candle seen for ``symbol``."""
        ...
