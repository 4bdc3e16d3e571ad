"""The extended feature set (issue 24): what the base features leave out, per symbol.

Appended to the base row by :class:`~quantum_trader.features.pipeline.StreamingFeatures` when
``FeatureConfig(extended=True)`` (``QT_FEATURES=extended``); the base features are unchanged, so
a model trained on the base set is untouched. Every value is computed from O(1) indicator states
updated once per closed candle, the batch path runs the same states, and a value at candle t reads
nothing after t's close (tests/features/test_extended.py checks both on real data):

- ``funding_norm_bps``, ``funding_z``: the mean funding rate of the last
  :data:`FUNDING_NORM` settlements (the norm, in bps) and the distance of the latest settlement
  from it in standard deviations of those settlements. Crowded positioning shows as funding far
  from its own norm, which a level alone does not say (0.01 % is normal in a bull market, extreme
  in a calm one). 0 where funding is not fresh, as for the base funding features.
- ``rvol_6``, ``rvol_336``: realised volatility (standard deviation of one-candle log returns)
  over 6 candles and over 336 (two weeks of 1h candles), beside the base 24 and 96;
  ``vol_regime``: ``log(rvol_24 / rvol_336)``, whether the market is calmer or wilder than its
  recent norm (volatility clusters; breakouts and mean reversion behave differently in each).
- ``volume_z168``: the surprise of the candle's log volume against a week, beside the base 24.
- ``h4_trend``, ``h4_rsi``, ``d1_trend``, ``d1_ret``: higher timeframes built from the candles
  themselves. A 4-hour (daily) bar completes with the candle whose close falls on a UTC 4-hour
  (day) boundary; ``h4_trend`` is the close over the EMA(20) of completed 4-hour closes minus 1,
  ``h4_rsi`` the RSI(14) of completed 4-hour closes (/100), ``d1_trend`` the close over the
  EMA(10) of completed daily closes minus 1, ``d1_ret`` the log return of the last completed
  day. Only completed bars enter the states, so nothing reads a bar that is still open.

The longest window (``rvol_336``) makes a row complete after 337 candles of 1h, within the
main job's warm-up of 500.
"""

from __future__ import annotations

import math

from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR
from quantum_trader.features.indicators import NAN, Ema, Lag, Rolling, Rsi

EXTENDED_FEATURES: tuple[str, ...] = (
    "funding_norm_bps",
    "funding_z",
    "rvol_6",
    "rvol_336",
    "vol_regime",
    "volume_z168",
    "h4_trend",
    "h4_rsi",
    "d1_trend",
    "d1_ret",
)
#: settlements in the funding norm: 30 × 8 h = 10 days
FUNDING_NORM = 30
H4_MS = 4 * MS_PER_HOUR


class ExtendedFeatures:
    """The extended features' states of one symbol; fed by ``StreamingFeatures``."""

    __slots__ = (
        "_d1",
        "_d1_ret",
        "_funding",
        "_h4",
        "_h4_rsi",
        "_h4_rsi_value",
        "_logvol",
        "_rv6",
        "_rv336",
    )

    def __init__(self) -> None:
        self._funding = Rolling(FUNDING_NORM)
        self._rv6, self._rv336 = Rolling(6), Rolling(336)
        self._logvol = Rolling(168)
        self._h4, self._h4_rsi = Ema(20), Rsi(14)
        self._h4_rsi_value = NAN
        self._d1 = Ema(10)
        self._d1_ret = Lag(1)

    def observe_funding(self, rate: float) -> None:
        """A new settlement (each one once, in time order)."""
        self._funding.update(rate)

    def update(
        self,
        row: list[float],
        *,
        close_time: int,
        close: float,
        log_return: float,
        log_volume: float,
        rv24: float,
        funding_rate: float,
        funding_fresh: bool,
    ) -> None:
        """Append this candle's extended values to ``row`` (``log_return`` NaN on the first)."""
        if not math.isnan(log_return):
            self._rv6.update(log_return)
            self._rv336.update(log_return)
        self._logvol.update(log_volume)
        if close_time % H4_MS == 0:
            self._h4.update(close)
            self._h4_rsi_value = self._h4_rsi.update(close)
        if close_time % MS_PER_DAY == 0:
            self._d1.update(close)
            self._d1_ret.update(math.log(close))
        row += self._funding_values(funding_rate, funding_fresh)
        rv336 = self._rv336.std
        vol_std = self._logvol.std
        day_now, day_before = self._d1_ret.get(0), self._d1_ret.get(1)
        row += (
            self._rv6.std,
            rv336,
            # ``0.0 * x`` keeps NaN during warm-up and gives 0 for a flat market
            math.log(rv24 / rv336) if rv24 > 0 and rv336 > 0 else 0.0 * (rv24 + rv336),
            (log_volume - self._logvol.mean) / vol_std if vol_std > 0 else 0.0 * vol_std,
            close / self._h4.value - 1.0,
            self._h4_rsi_value / 100.0,
            close / self._d1.value - 1.0,
            day_now - day_before,
        )

    def _funding_values(self, rate: float, fresh: bool) -> tuple[float, float]:
        norm = self._funding
        if not fresh:
            return 0.0, 0.0
        if not norm.full:  # fewer settlements than the norm needs: not known yet
            return NAN, NAN
        std = norm.std
        return norm.mean * 1e4, (rate - norm.mean) / std if std > 0 else 0.0
