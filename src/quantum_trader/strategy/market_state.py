"""Per-symbol market state the strategies read: price, ATR, Donchian channel, Bollinger z.

Updated incrementally per closed candle (O(window) for the channel, O(1) otherwise).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from quantum_trader.domain.errors import DataError, DomainValidationError
from quantum_trader.domain.market import Candle
from quantum_trader.domain.time import fmt
from quantum_trader.strategy.regime import Regime


@dataclass(frozen=True, slots=True)
class MarketState:
    """What a strategy knows about a symbol's market at ``time`` (a candle close)."""

    symbol: str
    time: int
    close: float
    atr: float
    #: highest high / lowest low of the ``channel`` candles *before* this one
    channel_high: float
    channel_low: float
    #: mean and standard deviation of the last ``band`` closes, this one included
    mean: float
    std: float
    regime: Regime | None = None
    vol_percentile: float = 0.5
    #: the symbol's 24-candle momentum ranked in the run's universe (0 weakest … 1 strongest,
    #: ``features/universe.py``); None without the universe features or a cross-section
    momentum_rank: float | None = None

    @property
    def band_z(self) -> float:
        """How many standard deviations the close is from its mean (0 when flat)."""
        return (self.close - self.mean) / self.std if self.std > 0 else 0.0


@dataclass(frozen=True, slots=True)
class MarketStateConfig:
    atr_period: int = 14
    channel: int = 20
    band: int = 20

    def __post_init__(self) -> None:
        for name in ("atr_period", "channel", "band"):
            if getattr(self, name) < 2:
                raise DomainValidationError("MarketStateConfig", name, getattr(self, name), ">= 2")


class MarketStateTracker:
    """Keeps one symbol's indicators; ``update`` returns the state after each closed candle."""

    def __init__(self, symbol: str, config: MarketStateConfig | None = None) -> None:
        self._symbol = symbol
        self._cfg = config or MarketStateConfig()
        self._highs: deque[float] = deque(maxlen=self._cfg.channel)
        self._lows: deque[float] = deque(maxlen=self._cfg.channel)
        self._closes: deque[float] = deque(maxlen=self._cfg.band)
        self._sum = 0.0
        self._sumsq = 0.0
        self._atr = 0.0
        self._n = 0
        self._prev_close: float | None = None
        self._last_open: int | None = None

    @property
    def ready(self) -> bool:
        return self._n > max(self._cfg.channel, self._cfg.band, self._cfg.atr_period)

    def update(
        self,
        candle: Candle,
        regime: Regime | None = None,
        vol_percentile: float = 0.5,
        momentum_rank: float | None = None,
    ) -> MarketState:
        if candle.symbol != self._symbol:
            raise DataError(f"tracker of {self._symbol} got a {candle.symbol} candle")
        if self._last_open is not None and candle.open_time <= self._last_open:
            raise DataError(f"{self._symbol}: candle {fmt(candle.open_time)} is not after the last")
        prev = self._prev_close if self._prev_close is not None else candle.open
        tr = max(candle.high - candle.low, abs(candle.high - prev), abs(candle.low - prev))
        self._n += 1
        k = min(self._n, self._cfg.atr_period)
        self._atr += (tr - self._atr) / k  # Wilder's smoothing after the first period
        ch_high = max(self._highs) if self._highs else candle.high
        ch_low = min(self._lows) if self._lows else candle.low
        self._highs.append(candle.high)
        self._lows.append(candle.low)
        if len(self._closes) == self._closes.maxlen:
            old = self._closes[0]
            self._sum -= old
            self._sumsq -= old * old
        self._closes.append(candle.close)
        self._sum += candle.close
        self._sumsq += candle.close * candle.close
        n = len(self._closes)
        mean = self._sum / n
        std = math.sqrt(max(self._sumsq / n - mean * mean, 0.0))
        self._prev_close = candle.close
        self._last_open = candle.open_time
        return MarketState(
            self._symbol,
            candle.close_time,
            candle.close,
            self._atr,
            ch_high,
            ch_low,
            mean,
            std,
            regime,
            vol_percentile,
            momentum_rank,
        )
