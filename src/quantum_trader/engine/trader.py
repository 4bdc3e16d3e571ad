"""The bar-strategy plug-in interface: a hook per closed candle, a JSON-safe state for resume."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from quantum_trader.domain.columns import CandleColumns
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.portfolio.portfolio import Portfolio


@dataclass(frozen=True, slots=True)
class TradingContext:
    """What a strategy acts through: the order manager, and the portfolio to read."""

    orders: OrderManager
    portfolio: Portfolio


class Trader(Protocol):
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


class FastForwardTrader(Trader, Protocol):
    """Optional: a bar strategy that can say how long it will stay quiet (fast-forward).

    A strategy with these two methods lets single-symbol replays hand the candles on which it
    would not act over in bulk (``Engine.run_columns``; ``SessionConfig.fast_forward``).
    ``quiet_until(symbol, bars, start, stop)``: the first candle index in ``[start, stop)`` on
    which ``on_bar`` might do anything besides updating the strategy's own indicators (submit,
    cancel, read the account), else ``stop``. It may look at later candles to find it (e.g.
    precomputed indicators), never act on them. ``skip_bars(symbol, bars, start, stop)``: leave
    exactly the state ``on_bar`` would have left after candles ``[start, stop)``, to the bit
    (``state()`` is checkpointed). Strategies without them simply see every candle.
    """

    def quiet_until(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> int: ...

    def skip_bars(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> None: ...
