"""The trader protocol: what a trading session drives (a hook per closed candle, a JSON-safe state
for resume) and the context it acts through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.portfolio.portfolio import Portfolio


@dataclass(frozen=True, slots=True)
class TradingContext:
    """What a trader acts through: the order manager, and the portfolio to read."""

    orders: OrderManager
    portfolio: Portfolio


class Trader(Protocol):
    """What trades a session: a hook per closed candle and a JSON-safe state for resume.

    A trader may also have the fast-forward capability (``quiet_until`` / ``skip_bars``,
    :class:`~quantum_trader.engine.engine.BarSkipper`): a single-symbol replay then hands it
    the candles on which it would not act in bulk. ``quiet_until(symbol, bars, start, stop)``
    is the first candle index in ``[start, stop)`` on which ``on_bar`` might do anything besides
    updating the trader's own indicators; ``skip_bars`` leaves exactly the state ``on_bar``
    would have left after candles ``[start, stop)``, to the bit (``state()`` is checkpointed).
    """

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
