"""Regime detector: BULL / BEAR / SIDEWAYS / VOLATILE per symbol and market-wide.

Per closed candle, in O(log n):

* trend score: ``ln(EMA_fast / EMA_slow)`` divided by the per-candle volatility of log returns
  times ``sqrt(fast_span)``, a t-statistic-like number (sign = direction, size = strength) that
  reads the same on any symbol and timeframe;
* volatility percentile: where the short-window volatility ranks among its own values over the
  last ``vol_window`` candles.

Classification: VOLATILE when the percentile is at or above ``volatile_enter``; else BULL / BEAR
when the score is beyond ``± trend_enter``; else SIDEWAYS. Hysteresis keeps a regime until its
*exit* condition holds (``volatile_exit`` < ``volatile_enter``, ``trend_exit`` < ``trend_enter``)
and never changes a regime younger than ``min_dwell`` candles. The market-wide regime is the
weighted plurality of the symbols' regimes (ties keep the current one).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from quantum_trader.bus import topics
from quantum_trader.bus.port import EventBus
from quantum_trader.bus.typed import publish_event
from quantum_trader.domain.errors import DataError, DomainValidationError
from quantum_trader.domain.events import RegimeChange, RegimeScope
from quantum_trader.domain.market import Candle
from quantum_trader.domain.market import Regime as Regime  # its home; imported from here too
from quantum_trader.domain.time import fmt
from quantum_trader.status.registry import StatusRegistry

MODULE = "regime_detector"
MARKET = "MARKET"


@dataclass(frozen=True, slots=True)
class RegimeConfig:
    """Frozen settings of the detector; defaults suit 1h candles (EMAs of 3 and 12 days).

    The trend thresholds were set on BTCUSDT-1h 2021-2022, where the score has a standard
    deviation of about 0.6: ``trend_enter`` 0.5 marks roughly the outer third of readings.
    """

    fast_span: int = 72
    slow_span: int = 288
    vol_span: int = 24
    vol_window: int = 720
    trend_enter: float = 0.5
    trend_exit: float = 0.2
    volatile_enter: float = 0.90
    volatile_exit: float = 0.75
    min_dwell: int = 12
    #: candles before the first regime is given (indicators need history)
    warmup: int = 300
    #: weight of each symbol in the market-wide vote (others weigh 1)
    market_weights: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = "RegimeConfig"
        if not 1 < self.fast_span < self.slow_span:
            raise DomainValidationError(name, "fast_span", self.fast_span, "need 1 < fast < slow")
        if not 0 <= self.trend_exit < self.trend_enter:
            raise DomainValidationError(
                name, "trend_exit", self.trend_exit, "need 0 <= exit < enter"
            )
        if not 0 < self.volatile_exit < self.volatile_enter <= 1:
            raise DomainValidationError(
                name, "volatile_exit", self.volatile_exit, "need 0 < exit < enter <= 1"
            )
        if self.vol_window < 10 or self.vol_span < 2 or self.min_dwell < 0 or self.warmup < 2:
            raise DomainValidationError(name, "windows", self.vol_window, "too small")


@dataclass(frozen=True, slots=True)
class RegimeReading:
    """The detector's view of one symbol after one candle."""

    symbol: str
    time: int
    regime: Regime | None
    trend_score: float
    vol_percentile: float
    volatility: float
    changed: bool


class _RollingRank:
    """Percentile rank of a value among the last ``n`` values (sorted list + deque)."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._window: deque[float] = deque()
        self._sorted: list[float] = []

    def push_and_rank(self, value: float) -> float:
        if len(self._window) == self._n:
            old = self._window.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        self._window.append(value)
        bisect.insort(self._sorted, value)
        below = bisect.bisect_left(self._sorted, value)
        equal = bisect.bisect_right(self._sorted, value) - below
        return (below + 0.5 * equal) / len(self._sorted)


class _SymbolState:
    def __init__(self, cfg: RegimeConfig) -> None:
        self.cfg = cfg
        self.count = 0
        self.last_open: int | None = None
        self.last_close = 0.0
        self.ema_fast = 0.0
        self.ema_slow = 0.0
        self.var_long = 0.0
        self.var_short = 0.0
        self.rank = _RollingRank(cfg.vol_window)
        self.regime: Regime | None = None
        self.dwell = 0

    def update(self, candle: Candle) -> tuple[float, float, float]:
        """Advance the indicators; returns (trend score, vol percentile, volatility)."""
        c = candle.close
        if self.count == 0:
            self.ema_fast = self.ema_slow = c
        else:
            r = math.log(c / self.last_close)
            a_long = 2 / (self.cfg.slow_span + 1)
            a_short = 2 / (self.cfg.vol_span + 1)
            self.var_long += a_long * (r * r - self.var_long)
            self.var_short += a_short * (r * r - self.var_short)
            self.ema_fast += 2 / (self.cfg.fast_span + 1) * (c - self.ema_fast)
            self.ema_slow += a_long * (c - self.ema_slow)
        self.count += 1
        self.last_close = c
        self.last_open = candle.open_time
        sigma = math.sqrt(self.var_long)
        score = (
            math.log(self.ema_fast / self.ema_slow) / (sigma * math.sqrt(self.cfg.fast_span))
            if sigma > 0
            else 0.0
        )
        vol = math.sqrt(self.var_short)
        pct = self.rank.push_and_rank(vol) if self.count > 1 else 0.5
        return score, pct, vol


def classify(current: Regime | None, score: float, pct: float, cfg: RegimeConfig) -> Regime:
    """The regime after one reading, given the current one (hysteresis, no dwell).

    >>> cfg = RegimeConfig()
    >>> classify(None, 0.6, 0.5, cfg), classify(Regime.BULL, 0.3, 0.5, cfg)
    (<Regime.BULL: 'BULL'>, <Regime.BULL: 'BULL'>)
    >>> classify(Regime.BULL, 0.1, 0.5, cfg)
    <Regime.SIDEWAYS: 'SIDEWAYS'>
    >>> classify(Regime.VOLATILE, -2.0, 0.8, cfg)  # stays until the percentile < volatile_exit
    <Regime.VOLATILE: 'VOLATILE'>
    """
    if pct >= cfg.volatile_enter or (current is Regime.VOLATILE and pct >= cfg.volatile_exit):
        return Regime.VOLATILE
    if current is Regime.BULL and score >= cfg.trend_exit:
        return Regime.BULL
    if current is Regime.BEAR and score <= -cfg.trend_exit:
        return Regime.BEAR
    if score >= cfg.trend_enter:
        return Regime.BULL
    if score <= -cfg.trend_enter:
        return Regime.BEAR
    return Regime.SIDEWAYS


class RegimeDetector:
    """Per-symbol and market-wide regimes from closed candles; publishes ``regime.changed``."""

    def __init__(
        self,
        config: RegimeConfig | None = None,
        *,
        bus: EventBus | None = None,
        status: StatusRegistry | None = None,
    ) -> None:
        self._cfg = config or RegimeConfig()
        self._bus = bus
        self._symbols: dict[str, _SymbolState] = {}
        self._market: Regime | None = None
        self._handle = (
            status.register(MODULE, enabled=True, reason="EMA trend score + volatility percentile")
            if status is not None
            else None
        )

    def regime(self, symbol: str) -> Regime | None:
        state = self._symbols.get(symbol)
        return None if state is None else state.regime

    @property
    def market_regime(self) -> Regime | None:
        return self._market

    def regimes(self) -> dict[str, Regime | None]:
        return {s: st.regime for s, st in self._symbols.items()}

    def update(self, candle: Candle) -> RegimeReading:
        """Feed one closed candle (in time order per symbol)."""
        state = self._symbols.get(candle.symbol)
        if state is None:
            state = self._symbols[candle.symbol] = _SymbolState(self._cfg)
        if state.last_open is not None and candle.open_time <= state.last_open:
            raise DataError(
                f"regime {candle.symbol}: candle {fmt(candle.open_time)} is not after "
                f"{fmt(state.last_open)}"
            )
        score, pct, vol = state.update(candle)
        changed = False
        if state.count >= self._cfg.warmup:
            new = classify(state.regime, score, pct, self._cfg)
            state.dwell += 1
            if state.regime is None or (
                new is not state.regime and state.dwell >= self._cfg.min_dwell
            ):
                previous, state.regime, state.dwell = state.regime, new, 0
                changed = True
                self._publish(
                    candle.symbol, RegimeScope.SYMBOL, previous, new, candle.close_time, score, pct
                )
                self._update_market(candle.close_time)
        if self._handle is not None:
            self._handle.count("updates")
            if changed:
                self._handle.count("changes")
        return RegimeReading(
            candle.symbol, candle.close_time, state.regime, score, pct, vol, changed
        )

    def _update_market(self, at: int) -> None:
        votes: dict[Regime, float] = {}
        for symbol, st in self._symbols.items():
            if st.regime is not None:
                w = self._cfg.market_weights.get(symbol, 1.0)
                votes[st.regime] = votes.get(st.regime, 0.0) + w
        if not votes:
            return
        best = max(votes.values())
        leaders = [r for r in Regime if votes.get(r) == best]
        if self._market in leaders or (len(leaders) > 1 and self._market is not None):
            return  # a tie keeps the current market regime
        new = leaders[0]
        if new is not self._market:
            previous, self._market = self._market, new
            self._publish(MARKET, RegimeScope.MARKET, previous, new, at, float("nan"), float("nan"))
            if self._handle is not None:
                self._handle.count("market_changes")

    def _publish(
        self,
        symbol: str,
        scope: RegimeScope,
        previous: Regime | None,
        regime: Regime,
        at: int,
        score: float,
        pct: float,
    ) -> None:
        if self._bus is None:
            return
        change = RegimeChange(
            scope,
            symbol,
            regime,
            previous,
            at,
            None if math.isnan(score) else score,
            None if math.isnan(pct) else pct,
        )
        publish_event(self._bus, topics.REGIME_CHANGED, change, source=MODULE)
