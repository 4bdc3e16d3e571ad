"""Market data records: candles and funding rates; the market regime a detector reads from them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from quantum_trader.domain import checks
from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.time import TIMEFRAMES, timeframe_ms


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV candle. ``open_time`` is the candle's open, epoch ms UTC.

    A candle is *closed* at ``open_time + timeframe``; only closed candles enter decisions.

    >>> Candle("BTCUSDT", "1h", 0, 10.0, 11.0, 9.0, 10.5, 3.0).close_time
    3600000
    >>> Candle("BTCUSDT", "1h", 0, 10.0, 9.0, 11.0, 10.5, 3.0)
    Traceback (most recent call last):
    ...
    quantum_trader.domain.errors.DomainValidationError: Candle.high=9.0: must be >= low (11.0)
    """

    symbol: str
    timeframe: str
    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    def __post_init__(self) -> None:
        o, h, lo, c, v = self.open, self.high, self.low, self.close, self.volume
        # The valid case in one comparison chain (NaN and inf fail it); the checks below
        # name what is wrong. Every decision and every replayed candle builds one.
        if (
            self.symbol
            and self.timeframe in TIMEFRAMES
            and 0.0 < lo <= o <= h < math.inf
            and lo <= c <= h
            and 0.0 <= v < math.inf
        ):
            return
        checks.non_empty("Candle", "symbol", self.symbol)
        timeframe_ms(self.timeframe)
        for name in ("open", "high", "low", "close"):
            checks.positive("Candle", name, getattr(self, name))
        checks.non_negative("Candle", "volume", self.volume)
        if self.high < self.low:
            raise DomainValidationError("Candle", "high", self.high, f"must be >= low ({self.low})")
        if self.high < max(self.open, self.close):
            raise DomainValidationError(
                "Candle",
                "high",
                self.high,
                f"must be >= open and close ({self.open}, {self.close})",
            )
        if self.low > min(self.open, self.close):
            raise DomainValidationError(
                "Candle", "low", self.low, f"must be <= open and close ({self.open}, {self.close})"
            )

    @property
    def close_time(self) -> int:
        """The instant the candle closes (exclusive end), epoch ms."""
        return self.open_time + timeframe_ms(self.timeframe)


@dataclass(frozen=True, slots=True)
class FundingRate:
    """A funding settlement: positive ``rate`` means longs pay shorts (fraction, 0.0001 = 0.01%)."""

    symbol: str
    funding_time: int
    rate: float

    def __post_init__(self) -> None:
        checks.non_empty("FundingRate", "symbol", self.symbol)
        checks.finite("FundingRate", "rate", self.rate)
        if abs(self.rate) >= 0.05:
            # Binance caps funding well below 5% per settlement; a larger value is a unit error.
            raise DomainValidationError(
                "FundingRate", "rate", self.rate, "must be a fraction below 0.05 in size"
            )


class Regime(StrEnum):
    """A market regime (``strategy/regime.py`` classifies candles into one; strategies, the
    selector and the meta controller read it, and ``regime.changed`` carries it)."""

    BULL = "BULL"
    BEAR = "BEAR"
    SIDEWAYS = "SIDEWAYS"
    VOLATILE = "VOLATILE"
