"""Cross-sectional features over the run's universe (issue 24 item 1): the market's return and
each symbol's rank among the symbols traded (``QT_FEATURES=universe``).

One :class:`UniverseFeatures` is shared by the :class:`~quantum_trader.features.pipeline.
StreamingFeatures` of every symbol of a pipeline. After a symbol's row for the candle opened at
t is computed, the symbol publishes its ``ret_1``, ``ret_24``, ``rvol_24`` and funding for t
(:meth:`UniverseFeatures.publish`). Its cross-sectional features at t are read from the
cross-section of the **previous** candle, opened at t − timeframe (:meth:`UniverseFeatures.
values`). The one-candle lag is what makes them well defined: candles of the same hour reach the
pipeline one symbol after the other (in any order, live), so the cross-section of t is complete
only once every symbol's candle of t is in, and a symbol decided on first would otherwise see
fewer peers than one decided on last. The previous candle's cross-section is complete before any
candle of t is processed, so the values are the same in every order, replay and live, and can
never read a candle after t.

- ``mkt_ret_1``, ``mkt_ret_24``: the equal-weighted mean of the universe's ``ret_1`` and
  ``ret_24`` (log returns) at t − 1: the market's move, which BTC's (``btc_*``) stands for only
  in part.
- ``xs_mom_rank``, ``xs_vol_rank``: the symbol's own ``ret_24`` and ``rvol_24`` at t − 1 ranked
  within the universe, scaled to [0, 1] (0 lowest, 1 highest, ties share their average rank):
  relative strength and relative calm, which a level alone does not say.
- ``xs_funding_rank``: its funding rate ranked among the symbols with fresh funding; 0.5 (the
  middle) when fewer than two have it or it has none itself.
- ``xs_available``: 1 when at least :data:`MIN_SYMBOLS` symbols, this one included, published
  at t − 1; else the five values are 0 and the flag 0 (missing input, as ``btc_available``).

A symbol publishes only when its three returns and volatilities are defined (after its first
25 candles). Memory is bounded: the cross-sections of the two newest open times are kept; a
candle older than that (a feed far behind the others) is not published.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from quantum_trader.domain.errors import DataError
from quantum_trader.domain.time import fmt, timeframe_ms

UNIVERSE_FEATURES: tuple[str, ...] = (
    "mkt_ret_1",
    "mkt_ret_24",
    "xs_mom_rank",
    "xs_vol_rank",
    "xs_funding_rank",
    "xs_available",
)
#: symbols (this one included) the previous cross-section needs for the features to be available
MIN_SYMBOLS = 3
NOT_AVAILABLE: tuple[float, ...] = (0.0,) * len(UNIVERSE_FEATURES)


class Published(NamedTuple):
    """What one symbol tells the universe about its candle."""

    ret_1: float
    ret_24: float
    rvol_24: float
    funding_bps: float
    funding_available: bool


def rank(own: float, values: list[float]) -> float:
    """``own``'s rank among ``values`` (which hold it), scaled to [0, 1]; ties averaged.

    >>> rank(2.0, [1.0, 2.0, 3.0]), rank(1.0, [1.0, 1.0, 3.0]), rank(5.0, [5.0])
    (0.5, 0.25, 0.5)
    """
    if len(values) < 2:
        return 0.5
    below = sum(1 for v in values if v < own)
    equal = sum(1 for v in values if v == own)
    return (below + (equal - 1) / 2.0) / (len(values) - 1)


class UniverseFeatures:
    """The cross-sections of the universe's two newest candles, shared by its symbols."""

    __slots__ = ("_sections", "_tf_ms", "timeframe")

    def __init__(self, timeframe: str) -> None:
        self.timeframe = timeframe
        self._tf_ms = timeframe_ms(timeframe)
        self._sections: dict[int, dict[str, Published]] = {}

    def publish(self, symbol: str, open_time: int, values: Published) -> None:
        """``symbol``'s values for its candle opened at ``open_time`` (once per candle)."""
        sections = self._sections
        newest = max(sections, default=open_time)
        if open_time < newest - self._tf_ms:
            return  # older than what is kept: nobody reads it any more
        section = sections.setdefault(open_time, {})
        if symbol in section:
            raise DataError(f"{symbol}: published twice for the candle at {fmt(open_time)}")
        section[symbol] = values
        for old in [t for t in sections if t < open_time - self._tf_ms]:
            del sections[old]

    def values(self, symbol: str, open_time: int) -> tuple[float, ...]:
        """The six features of ``symbol``'s candle opened at ``open_time``, from the
        cross-section of the candle before it (module docstring)."""
        section = self._sections.get(open_time - self._tf_ms)
        if section is None or len(section) < MIN_SYMBOLS or symbol not in section:
            return NOT_AVAILABLE
        own = section[symbol]
        peers = list(section.values())
        funded = [p.funding_bps for p in peers if p.funding_available]
        n = len(peers)
        return (
            # fsum is exactly rounded: the same mean whatever order the symbols published in
            math.fsum(p.ret_1 for p in peers) / n,
            math.fsum(p.ret_24 for p in peers) / n,
            rank(own.ret_24, [p.ret_24 for p in peers]),
            rank(own.rvol_24, [p.rvol_24 for p in peers]),
            rank(own.funding_bps, funded) if own.funding_available else 0.5,
            1.0,
        )
