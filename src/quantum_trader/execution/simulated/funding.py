"""Funding settlements: real per-symbol rates where recorded, a configured constant elsewhere.

At each funding time a position pays ``rate × quantity × mark`` (signed: positive rate → longs
pay shorts). Times come from the recorded series; outside its range (or for symbols without data)
settlements happen every ``interval_ms`` (8 h on Binance, at 00:00/08:00/16:00 UTC) at
``default_rate``.

Recorded settlement times carry a few milliseconds of jitter (``08:00:00.006``); they are rounded
to the nearest minute, so the settlement falls on the candle boundary it belongs to and the mark
price is that candle's close.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from quantum_trader.domain.errors import DataError
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.time import MS_PER_HOUR, MS_PER_MINUTE, fmt


def round_funding_time(t: int) -> int:
    """The recorded settlement time rounded to the nearest minute.

    >>> round_funding_time(1651536000006)
    1651536000000
    """
    return (t + MS_PER_MINUTE // 2) // MS_PER_MINUTE * MS_PER_MINUTE


@dataclass(frozen=True, slots=True)
class FundingConfig:
    enabled: bool = True
    default_rate: float = 0.0001
    interval_ms: int = 8 * MS_PER_HOUR


@dataclass(slots=True)
class _Series:
    times: list[int]
    rates: list[float]


@dataclass(slots=True)
class FundingSchedule:
    """Funding times and rates per symbol.

    >>> s = FundingSchedule(FundingConfig(default_rate=0.0002), {})
    >>> s.due("BTCUSDT", 0, 8 * 3_600_000)
    [(28800000, 0.0002)]
    """

    config: FundingConfig
    series: Mapping[str, Sequence[FundingRate]]
    _data: dict[str, _Series] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for symbol, rates in self.series.items():
            times = [round_funding_time(r.funding_time) for r in rates]
            for a, b in itertools.pairwise(times):
                if b <= a:
                    raise DataError(
                        f"{symbol} funding times not increasing: {fmt(a)} then {fmt(b)}"
                    )
            self._data[symbol] = _Series(times, [r.rate for r in rates])

    def next_after(self, symbol: str, t: int) -> int:
        """The first funding time strictly after ``t`` (or a far-future time when disabled)."""
        if not self.config.enabled:
            return 2**62
        step = self.config.interval_ms
        constant_next = (t // step + 1) * step
        series = self._data.get(symbol)
        if series is None or not series.times:
            return constant_next
        i = bisect_right(series.times, t)
        if i < len(series.times):
            if t < series.times[0]:
                return min(constant_next, series.times[0])
            return series.times[i]
        return constant_next

    def rate_at(self, symbol: str, funding_time: int) -> float:
        series = self._data.get(symbol)
        if series is not None and series.times:
            i = bisect_right(series.times, funding_time) - 1
            if i >= 0 and series.times[i] == funding_time:
                return series.rates[i]
        return self.config.default_rate

    def due(self, symbol: str, after: int, until: int) -> list[tuple[int, float]]:
        """Funding (time, rate) settlements in ``(after, until]``, in order."""
        out: list[tuple[int, float]] = []
        t = self.next_after(symbol, after)
        while t <= until:
            out.append((t, self.rate_at(symbol, t)))
            t = self.next_after(symbol, t)
        return out
