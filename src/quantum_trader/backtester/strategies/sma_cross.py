"""SMA fast/slow crossover, long/short, fixed size: the first strategy and the cross-check.

Semantics aligned with backtesting.py's classic ``SmaCross`` example: on the candle where the
fast SMA crosses above the slow one (``fast[-2] < slow[-2] and fast[-1] > slow[-1]``) the
strategy goes long ``quantity``; on a cross below it goes short; the order is a market order that
fills at the next candle's open. The means are running sums over a ring buffer, re-summed
exactly every ``resum_every`` candles so float drift cannot accumulate over long replays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quantum_trader.backtester.strategies.base import TradingContext
from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.orders import OrderStatus, OrderType, Side


@dataclass(frozen=True, slots=True)
class SmaCrossConfig:
    fast: int = 10
    slow: int = 30
    quantity: float = 0.01
    quantities: tuple[tuple[str, float], ...] = ()  # per-symbol sizes overriding ``quantity``
    leverage: float = 1.0
    long_only: bool = False
    resum_every: int = 1000

    def __post_init__(self) -> None:
        if not 0 < self.fast < self.slow:
            raise DomainValidationError(
                "SmaCrossConfig", "fast", self.fast, f"must be > 0 and < slow ({self.slow})"
            )
        if self.quantity <= 0:
            raise DomainValidationError("SmaCrossConfig", "quantity", self.quantity, "must be > 0")


class _Series:
    """Per-symbol indicator state."""

    __slots__ = ("buf", "count", "i", "prev_fast", "prev_slow", "sum_fast", "sum_slow")

    def __init__(self, slow: int) -> None:
        self.buf = [0.0] * slow
        self.i = 0
        self.count = 0
        self.sum_fast = 0.0
        self.sum_slow = 0.0
        self.prev_fast = float("nan")
        self.prev_slow = float("nan")


class SmaCross:
    """Goes long on a golden cross and short on a death cross (or flat when ``long_only``)."""

    name = "sma_cross"

    def __init__(self, config: SmaCrossConfig | None = None) -> None:
        self.config = config or SmaCrossConfig()
        self._series: dict[str, _Series] = {}
        self._sizes = dict(self.config.quantities)
        self._ctx: TradingContext | None = None
        self.signals = 0
        self.rejections = 0

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
        s = self._series.get(symbol)
        if s is None:
            s = self._series[symbol] = _Series(self.config.slow)
        fast_n = self.config.fast
        slow_n = self.config.slow
        buf = s.buf
        i = s.i
        s.sum_slow += c - buf[i]
        s.sum_fast += c - buf[(i - fast_n) % slow_n]
        buf[i] = c
        s.i = (i + 1) % slow_n
        s.count += 1
        count = s.count
        if count % self.config.resum_every == 0:
            self._resum(s)
        if count < slow_n:
            return
        fast = s.sum_fast / fast_n
        slow = s.sum_slow / slow_n
        pf, ps = s.prev_fast, s.prev_slow
        s.prev_fast, s.prev_slow = fast, slow
        if pf < ps and fast > slow:
            self._target(symbol, 1.0)
        elif pf > ps and fast < slow:
            self._target(symbol, 0.0 if self.config.long_only else -1.0)

    def _resum(self, s: _Series) -> None:
        n = self.config.slow
        ordered = [s.buf[(s.i + k) % n] for k in range(n)]
        s.sum_slow = sum(ordered)
        s.sum_fast = sum(ordered[n - self.config.fast :])

    def _target(self, symbol: str, direction: float) -> None:
        ctx = self._ctx
        if ctx is None:
            raise RuntimeError("SmaCross.on_bar before bind(): no trading context")
        self.signals += 1
        target = direction * self._sizes.get(symbol, self.config.quantity)
        current = ctx.portfolio.quantity(symbol)
        delta = round(target - current, 12)
        if delta == 0:
            return
        order = ctx.orders.submit(
            symbol,
            Side.BUY if delta > 0 else Side.SELL,
            abs(delta),
            OrderType.MARKET,
            leverage=self.config.leverage if current == 0 else None,
            tag=self.name,
        )
        if order.status is OrderStatus.REJECTED:
            self.rejections += 1

    def state(self) -> dict[str, Any]:
        return {
            "signals": self.signals,
            "series": {
                sym: {
                    "buf": s.buf,
                    "i": s.i,
                    "count": s.count,
                    "sum_fast": s.sum_fast,
                    "sum_slow": s.sum_slow,
                    "prev_fast": None if s.prev_fast != s.prev_fast else s.prev_fast,
                    "prev_slow": None if s.prev_slow != s.prev_slow else s.prev_slow,
                }
                for sym, s in sorted(self._series.items())
            },
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.signals = int(state["signals"])
        self._series = {}
        for sym, raw in state["series"].items():
            s = _Series(self.config.slow)
            s.buf = [float(x) for x in raw["buf"]]
            s.i = int(raw["i"])
            s.count = int(raw["count"])
            s.sum_fast = float(raw["sum_fast"])
            s.sum_slow = float(raw["sum_slow"])
            s.prev_fast = float("nan") if raw["prev_fast"] is None else float(raw["prev_fast"])
            s.prev_slow = float("nan") if raw["prev_slow"] is None else float(raw["prev_slow"])
            self._series[sym] = s
