"""SMA fast/slow crossover, long/short, fixed size: the first strategy and the cross-check.

Semantics aligned with backtesting.py's classic ``SmaCross`` example: on the candle where the
fast SMA crosses above the slow one (``fast[-2] < slow[-2] and fast[-1] > slow[-1]``) the
strategy goes long ``quantity``; on a cross below it goes short; the order is a market order that
fills at the next candle's open. The means are running sums over a ring buffer, re-summed
exactly every ``resum_every`` candles so float drift cannot accumulate over long replays.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from quantum_trader.domain.columns import CandleColumns
from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.orders import OrderStatus, OrderType, Side
from quantum_trader.engine.trader import TradingContext


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


class _Plan:
    """The indicator computed ahead over a symbol's remaining candles, for fast-forward.

    Built from the strategy's own state with the same float operations as ``on_bar``: the
    running sums are sequential (``np.add.accumulate``) and re-summed with the builtin ``sum``
    at the same candle counts, so every value equals the per-candle one bit for bit.
    """

    __slots__ = (
        "bars",
        "base",
        "count0",
        "fast_mean",
        "n",
        "signals",
        "slow_mean",
        "sum_fast",
        "sum_slow",
        "valid",
        "verified",
    )

    def __init__(self, s: _Series, config: SmaCrossConfig, bars: CandleColumns, base: int) -> None:
        fast_n, slow_n = config.fast, config.slow
        closes = bars.close[base:]
        n = len(closes)
        ordered = [s.buf[(s.i + k) % slow_n] for k in range(slow_n)]
        window = np.concatenate([np.asarray(ordered, dtype=np.float64), closes])
        step_slow = closes - window[:n]
        step_fast = closes - window[slow_n - fast_n : slow_n - fast_n + n]
        counts = s.count + 1 + np.arange(n)
        # the candles whose count is a multiple of ``resum_every`` (the first, then every one)
        resums = list(range(-(s.count + 1) % config.resum_every, n, config.resum_every))
        sum_fast = np.empty(n)
        sum_slow = np.empty(n)
        init_fast, init_slow = s.sum_fast, s.sum_slow
        seg = 0
        for r in [*resums, n]:
            if r > seg:
                sum_fast[seg:r] = np.add.accumulate(
                    np.concatenate(([init_fast], step_fast[seg:r]))
                )[1:]
                sum_slow[seg:r] = np.add.accumulate(
                    np.concatenate(([init_slow], step_slow[seg:r]))
                )[1:]
            if r < n:
                last = window[r + 1 : r + 1 + slow_n].tolist()  # the buffer, oldest first
                init_slow = sum_slow[r] = sum(last)
                init_fast = sum_fast[r] = sum(last[slow_n - fast_n :])
                seg = r + 1
        fast = sum_fast / fast_n
        slow = sum_slow / slow_n
        valid = counts >= slow_n
        prev_fast = np.empty(n)
        prev_slow = np.empty(n)
        prev_fast[0], prev_slow[0] = s.prev_fast, s.prev_slow
        prev_fast[1:] = np.where(valid[:-1], fast[:-1], s.prev_fast)
        prev_slow[1:] = np.where(valid[:-1], slow[:-1], s.prev_slow)
        with np.errstate(invalid="ignore"):
            crossing = ((prev_fast < prev_slow) & (fast > slow)) | (
                (prev_fast > prev_slow) & (fast < slow)
            )
        self.bars = bars
        self.base = base
        self.n = n
        self.count0 = s.count
        self.sum_fast: npt.NDArray[np.float64] = sum_fast
        self.sum_slow: npt.NDArray[np.float64] = sum_slow
        self.fast_mean: npt.NDArray[np.float64] = fast
        self.slow_mean: npt.NDArray[np.float64] = slow
        self.valid: npt.NDArray[np.bool_] = valid
        self.signals: list[int] = np.flatnonzero(crossing & valid).tolist()
        self.verified = -1  # the last candle (from ``base``) at which ``matches`` held

    def matches(self, s: _Series, bars: CandleColumns, start: int) -> bool:
        """Whether the strategy's state at ``start`` is the one this plan predicted."""
        j = start - self.base
        if bars is not self.bars or j < 0 or j >= self.n:
            return False
        if j == 0:
            return s.count == self.count0
        if j == self.verified and s.count == self.count0 + j:
            # checked at this candle already (``quiet_until``, then ``skip_bars``): the count
            # only grows, by one per candle, so an equal count means no candle came since
            return True
        if (  # ``item``: a Python float, cheaper to get and compare than a numpy scalar
            s.count == self.count0 + j
            and s.sum_fast == self.sum_fast.item(j - 1)
            and s.sum_slow == self.sum_slow.item(j - 1)
        ):
            self.verified = j
            return True
        return False


class SmaCross:
    """Goes long on a golden cross and short on a death cross (or flat when ``long_only``)."""

    name = "sma_cross"

    def __init__(self, config: SmaCrossConfig | None = None) -> None:
        self.config = config or SmaCrossConfig()
        self._series: dict[str, _Series] = {}
        self._sizes = dict(self.config.quantities)
        self._ctx: TradingContext | None = None
        self._plans: dict[str, _Plan] = {}
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

    # ------------------------------------------------------------------ fast-forward
    def quiet_until(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> int:
        """The next candle in ``[start, stop)`` on which a crossover fires (else ``stop``):
        candles before it only move the means."""
        s = self._series.get(symbol)
        if s is None:
            return start
        plan = self._plans.get(symbol)
        if plan is None or not plan.matches(s, bars, start):
            plan = self._plans[symbol] = _Plan(s, self.config, bars, start)
        j = start - plan.base
        k = bisect_left(plan.signals, j)
        if k < len(plan.signals):
            return min(stop, plan.base + plan.signals[k])
        return stop

    def skip_bars(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> None:
        """Advance the means over candles ``[start, stop)`` (none of them signals)."""
        s = self._series[symbol]
        plan = self._plans.get(symbol)
        if plan is None or not plan.matches(s, bars, start):
            plan = self._plans[symbol] = _Plan(s, self.config, bars, start)
        slow_n = self.config.slow
        n = stop - start
        last = stop - 1 - plan.base
        i = s.i
        if n >= slow_n:
            tail = bars.close[stop - slow_n : stop].tolist()
            new_i = (i + n) % slow_n
            s.buf = tail[slow_n - new_i :] + tail[: slow_n - new_i]
        else:
            first = min(n, slow_n - i)
            values = bars.close[start:stop].tolist()
            s.buf[i : i + first] = values[:first]
            s.buf[0 : n - first] = values[first:]
        s.i = (i + n) % slow_n
        s.count += n
        s.sum_fast = plan.sum_fast.item(last)
        s.sum_slow = plan.sum_slow.item(last)
        if plan.valid.item(last):
            s.prev_fast = plan.fast_mean.item(last)
            s.prev_slow = plan.slow_mean.item(last)

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
        self._plans = {}
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
