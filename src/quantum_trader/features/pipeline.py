"""The feature pipeline: one definition for batch (training, backtests) and streaming (live).

:class:`StreamingFeatures` holds one O(1) state per indicator and turns each closed candle into
one feature row. :func:`compute_features` builds the training matrix by running the very same
states over a whole series, so the batch matrix equals what the live path would have produced
candle by candle, and row t depends only on candles up to t and funding settled before t closes.

Funding (``funding_*``) and the cross-asset return (``btc_*``) are "not available" as 0 with an
availability flag of 0 when a symbol has no funding data, funding is stale, or the market
candle is missing, so models see the absence instead of a made-up value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from quantum_trader.domain.errors import DataError, LookAheadError
from quantum_trader.domain.market import Candle, FundingRate
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR, fmt, timeframe_ms
from quantum_trader.features.extended import EXTENDED_FEATURES, ExtendedFeatures
from quantum_trader.features.indicators import NAN, Atr, Ema, Lag, Macd, Rolling, Rsi
from quantum_trader.features.series import CandleSeries, FloatArray, FundingSeries, IntArray
from quantum_trader.features.universe import UNIVERSE_FEATURES, Published, UniverseFeatures

TWO_PI = 2.0 * math.pi


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """Which features to compute. The defaults give the 41 features listed in docs/models.md;
    ``extended`` appends the 10 of :mod:`quantum_trader.features.extended` (``QT_FEATURES``),
    ``universe`` the 6 cross-sectional ones of :mod:`quantum_trader.features.universe` after
    them (``QT_FEATURES=universe`` sets both)."""

    return_horizons: tuple[int, ...] = (1, 2, 4, 8, 12, 24, 48)
    cross_asset: str = "BTCUSDT"
    funding_stale_ms: int = 24 * MS_PER_HOUR  # three missed 8 h settlements → not available
    extended: bool = False
    universe: bool = False

    def __post_init__(self) -> None:
        if not self.return_horizons or min(self.return_horizons) < 1:
            raise ValueError(f"FeatureConfig.return_horizons={self.return_horizons}: need >= 1")
        if self.funding_stale_ms <= 0:
            raise ValueError(f"FeatureConfig.funding_stale_ms={self.funding_stale_ms}: must be > 0")

    @property
    def names(self) -> tuple[str, ...]:
        names = tuple(f"ret_{h}" for h in self.return_horizons) + FIXED_FEATURES
        if self.extended:
            names += EXTENDED_FEATURES
        return names + UNIVERSE_FEATURES if self.universe else names


FIXED_FEATURES: tuple[str, ...] = (
    "close_ema14",
    "close_ema50",
    "ema14_ema50",
    "close_sma20",
    "close_sma50",
    "sma20_sma50",
    "bb_position",
    "bb_width",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "atr_14",
    "rvol_24",
    "rvol_96",
    "volume_z24",
    "volume_ratio20",
    "momentum_20",
    "body",
    "upper_wick",
    "lower_wick",
    "range",
    "close_location",
    "funding_rate_bps",
    "funding_change_bps",
    "funding_available",
    "hour_sin",
    "hour_cos",
    "dow_sin",
    "dow_cos",
    "btc_ret_1",
    "btc_ret_4",
    "rel_strength_4",
    "btc_available",
)


class StreamingFeatures:
    """Feature state of one symbol; ``update`` once per closed candle, in time order.

    Returns NaN in a feature until its window is full; :attr:`ready` says whether the last row is
    complete (about 100 candles of warm-up with the defaults). Under ``FeatureConfig.universe``
    the state reads and feeds ``universe``, the cross-sections shared by every symbol of the run
    (required then: one symbol alone has no universe).
    """

    def __init__(
        self,
        symbol: str,
        timeframe: str,
        config: FeatureConfig | None = None,
        universe: UniverseFeatures | None = None,
    ) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.config = config or FeatureConfig()
        self.names = self.config.names
        self._tf_ms = timeframe_ms(timeframe)
        self._is_market = symbol == self.config.cross_asset
        if self.config.universe and (universe is None or universe.timeframe != timeframe):
            raise ValueError(
                f"{symbol}: FeatureConfig(universe=True) needs the UniverseFeatures of the run's "
                f"symbols at {timeframe} (compute_universe_features, or one shared state)"
            )
        self._universe = universe if self.config.universe else None
        # the universe reads ret_24 whatever the return horizons
        self._closes = Lag(max(*self.config.return_horizons, 20, 24 if self._universe else 1))
        self._market = Lag(4)
        self._ema14, self._ema50 = Ema(14), Ema(50)
        self._sma20, self._sma50 = Rolling(20), Rolling(50)
        self._rsi, self._atr, self._macd = Rsi(14), Atr(14), Macd()
        self._rv24, self._rv96 = Rolling(24), Rolling(96)
        self._logvol, self._vol20 = Rolling(24), Rolling(20)
        self._funding: float = NAN
        self._funding_prev: float = NAN
        self._funding_time = -1
        self._extended = ExtendedFeatures() if self.config.extended else None
        self._last_open = -1
        self._horizons = self.config.return_horizons
        self.ready = False

    # --- inputs ---------------------------------------------------------------------------
    def observe_funding(self, funding: FundingRate, close_time: int) -> None:
        """Take a funding settlement into account for the candle closing at ``close_time``."""
        if funding.symbol != self.symbol:
            raise DataError(f"funding for {funding.symbol} given to {self.symbol}'s features")
        if funding.funding_time >= close_time:
            raise LookAheadError(
                f"{self.symbol}: funding settled at {fmt(funding.funding_time)} is not known "
                f"before the candle closing at {fmt(close_time)}"
            )
        if funding.funding_time <= self._funding_time:
            return  # already seen (a feed may repeat the latest settlement)
        self._funding_prev = self._funding
        self._funding = funding.rate
        self._funding_time = funding.funding_time
        if self._extended is not None:
            self._extended.observe_funding(funding.rate)

    def update(
        self,
        candle: Candle,
        funding: FundingRate | Iterable[FundingRate] | None = None,
        market: Candle | None = None,
    ) -> np.ndarray:
        """Add a closed candle (and any funding settled before it closed); return its row.

        ``market`` is the cross-asset candle (BTC) with the same open time; ignored for the
        cross-asset symbol itself, whose own candle plays that role.
        """
        if candle.symbol != self.symbol or candle.timeframe != self.timeframe:
            raise DataError(
                f"candle {candle.symbol} {candle.timeframe} given to features of "
                f"{self.symbol} {self.timeframe}"
            )
        close_time = candle.open_time + self._tf_ms
        if funding is not None:
            for item in [funding] if isinstance(funding, FundingRate) else funding:
                self.observe_funding(item, close_time)
        market_close = NAN
        if self._is_market:
            market_close = candle.close
        elif market is not None:
            if market.open_time != candle.open_time or market.symbol != self.config.cross_asset:
                raise DataError(
                    f"{self.symbol}: market candle {market.symbol} at {fmt(market.open_time)} "
                    f"does not match {self.config.cross_asset} at {fmt(candle.open_time)}"
                )
            market_close = market.close
        return np.array(
            self.update_values(
                candle.open_time,
                candle.open,
                candle.high,
                candle.low,
                candle.close,
                candle.volume,
                market_close,
            )
        )

    # --- the one definition -----------------------------------------------------------------
    def update_values(
        self,
        open_time: int,
        o: float,
        h: float,
        low: float,
        c: float,
        v: float,
        market_close: float,
    ) -> list[float]:
        """Core update on plain values; returns the row as a list of floats, in ``names`` order.

        A Python list, filled in one pass: writing 41 values one by one into a numpy row cost
        as much as computing them. ``update`` makes the array; the batch path fills its matrix.
        """
        if open_time <= self._last_open:
            raise DataError(
                f"{self.symbol}: candle at {fmt(open_time)} is not after {fmt(self._last_open)}"
            )
        self._last_open = open_time
        closes = self._closes
        closes.update(c)
        log_c = math.log(c)
        held = len(closes)
        row = [
            log_c - math.log(closes.get(horizon)) if horizon < held else NAN
            for horizon in self._horizons
        ]
        ema14, ema50 = self._ema14.update(c), self._ema50.update(c)
        sma20, sma50 = self._sma20.update(c), self._sma50.update(c)
        std20 = self._sma20.std
        line, signal, hist = self._macd.update(c)
        rsi = self._rsi.update(c)
        atr = self._atr.update(h, low, c)
        one = NAN
        if held > 1:  # a NaN would poison the running sums: skip the first candle
            one = log_c - math.log(closes.get(1))
            self._rv24.update(one)
            self._rv96.update(one)
        log_v = math.log1p(v)
        self._logvol.update(log_v)
        vol_std = self._logvol.std
        vol20 = self._vol20.update(v)
        top, bottom = max(o, c), min(o, c)
        row += (
            c / ema14 - 1.0,
            c / ema50 - 1.0,
            ema14 / ema50 - 1.0,
            c / sma20 - 1.0,
            c / sma50 - 1.0,
            sma20 / sma50 - 1.0,
            # ``0.0 * x`` keeps NaN during warm-up and gives 0 for a flat window.
            (c - sma20) / (2.0 * std20) if std20 > 0 else 0.0 * std20,
            4.0 * std20 / sma20,
            rsi / 100.0,
            line / c,
            signal / c,
            hist / c,
            atr / c,
            self._rv24.std,
            self._rv96.std,
            (log_v - self._logvol.mean) / vol_std if vol_std > 0 else 0.0 * vol_std,
            v / vol20 if vol20 > 0 else 0.0 * vol20,
            log_c - math.log(closes.get(20)) if held > 20 else NAN,
            (c - o) / o,
            (h - top) / o,
            (bottom - low) / o,
            (h - low) / o,
            (c - low) / (h - low) if h > low else 0.5,
        )
        fresh = self._funding_features(row, open_time + self._tf_ms)
        hour = (open_time % MS_PER_DAY) / MS_PER_HOUR
        dow = ((open_time // MS_PER_DAY) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        row += (
            math.sin(TWO_PI * hour / 24.0),
            math.cos(TWO_PI * hour / 24.0),
            math.sin(TWO_PI * dow / 7.0),
            math.cos(TWO_PI * dow / 7.0),
        )
        self._market_features(row, market_close, log_c)
        if self._extended is not None:
            self._extended.update(
                row,
                close_time=open_time + self._tf_ms,
                close=c,
                log_return=one,
                log_volume=log_v,
                rv24=self._rv24.std,
                funding_rate=self._funding,
                funding_fresh=fresh,
            )
        if self._universe is not None:
            self._universe_features(row, open_time, one, log_c, fresh)
        self.ready = not any(map(math.isnan, row))
        return row

    def _universe_features(
        self, row: list[float], open_time: int, one: float, log_c: float, fresh: bool
    ) -> None:
        """Append the cross-sectional values (of the candle before), then publish this one's."""
        universe = self._universe
        assert universe is not None
        row += universe.values(self.symbol, open_time)
        rv24 = self._rv24.std
        if len(self._closes) > 24 and not math.isnan(one) and not math.isnan(rv24):
            ret_24 = log_c - math.log(self._closes.get(24))
            funding_bps = self._funding * 1e4 if fresh else 0.0
            universe.publish(
                self.symbol, open_time, Published(one, ret_24, rv24, funding_bps, fresh)
            )

    def _funding_features(self, row: list[float], close_time: int) -> bool:
        fresh = self._funding_time >= 0 and close_time - self._funding_time <= (
            self.config.funding_stale_ms
        )
        if fresh:
            prev = self._funding_prev
            row += (
                self._funding * 1e4,
                0.0 if math.isnan(prev) else (self._funding - prev) * 1e4,
                1.0,
            )
        else:
            row += (0.0, 0.0, 0.0)
        return fresh

    def _market_features(self, row: list[float], market_close: float, log_c: float) -> None:
        market = self._market
        market.update(market_close)
        now, one, four = market.get(0), market.get(1), market.get(4)
        if now > 0 and one > 0 and four > 0:  # NaN compares False: missing → unavailable
            log_now = math.log(now)
            four_back = log_now - math.log(four)
            four_own = self._closes.get(4)
            row += (
                log_now - math.log(one),
                four_back,
                (log_c - math.log(four_own) - four_back) if four_own > 0 else NAN,
                1.0,
            )
        else:
            row += (0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class FeatureMatrix:
    """Batch features: row t belongs to the candle opened at ``open_time[t]``."""

    names: tuple[str, ...]
    open_time: IntArray
    values: FloatArray  # shape (n, len(names))

    @property
    def complete(self) -> np.ndarray:
        """Rows whose every feature is defined (past the warm-up)."""
        return np.asarray(~np.isnan(self.values).any(axis=1))


def funding_events_per_candle(
    open_time: IntArray, tf_ms: int, funding: FundingSeries | None
) -> list[tuple[int, int]]:
    """For each candle, the index range of funding settlements first known at its close.

    A settlement at time f is known to the candle closing at c when f < c, strictly.
    """
    n = len(open_time)
    if funding is None or len(funding.time) == 0:
        return [(0, 0)] * n
    ends = np.searchsorted(funding.time, open_time + tf_ms, side="left")
    starts = np.concatenate([[0], ends[:-1]]) if n else ends
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def compute_features(
    candles: CandleSeries,
    funding: FundingSeries | None = None,
    market: CandleSeries | None = None,
    config: FeatureConfig | None = None,
) -> FeatureMatrix:
    """Run :class:`StreamingFeatures` over ``candles``: the batch path, equal to streaming.

    The universe features need every symbol's candles: :func:`compute_universe_features`.
    """
    if config is not None and config.universe:
        raise ValueError(
            f"compute_features({candles.symbol}): FeatureConfig(universe=True) ranks a symbol "
            "among the others, which one series cannot show; use compute_universe_features"
        )
    run = _SeriesRun(StreamingFeatures(candles.symbol, candles.timeframe, config), candles)
    run.prepare(funding, market)
    for t in range(len(candles)):
        run.step(t)
    return run.matrix()


def compute_universe_features(
    candles: Mapping[str, CandleSeries],
    funding: Mapping[str, FundingSeries | None] | None = None,
    market: CandleSeries | None = None,
    config: FeatureConfig | None = None,
) -> dict[str, FeatureMatrix]:
    """Every symbol's features together, the batch path of a universe: each symbol's
    :class:`StreamingFeatures` over its series, all sharing one
    :class:`~quantum_trader.features.universe.UniverseFeatures`, run candle time by candle
    time (the symbols of one time in name order; any order gives the same rows). Equal to the
    streaming states fed the same candles, by construction. ``market`` is the cross-asset
    (BTC) series, as for :func:`compute_features`; without ``universe`` in ``config`` each
    matrix equals ``compute_features`` of that symbol alone."""
    config = config or FeatureConfig()
    timeframes = {series.timeframe for series in candles.values()}
    if len(timeframes) > 1:
        raise DataError(f"compute_universe_features: several timeframes {sorted(timeframes)}")
    timeframe = timeframes.pop() if timeframes else "1h"
    universe = UniverseFeatures(timeframe) if config.universe else None
    funding = funding or {}
    runs: dict[str, _SeriesRun] = {}
    for symbol in sorted(candles):
        series = candles[symbol]
        if series.symbol != symbol:
            raise DataError(f"compute_universe_features: {series.symbol}'s series under {symbol}")
        run = _SeriesRun(StreamingFeatures(symbol, timeframe, config, universe), series)
        run.prepare(funding.get(symbol), market)
        runs[symbol] = run
    times: set[int] = set()
    for run in runs.values():
        times.update(run.times)
    for time in sorted(times):
        for run in runs.values():
            run.step_at(time)
    return {symbol: run.matrix() for symbol, run in runs.items()}


class _SeriesRun:
    """One symbol's batch run: its streaming state fed its series candle by candle, with the
    funding settled before each close and the market close of the same open time."""

    def __init__(self, state: StreamingFeatures, candles: CandleSeries) -> None:
        self.state, self.candles = state, candles
        self.out = np.empty((len(candles), len(state.names)), dtype=np.float64)
        self.times: list[int] = candles.open_time.tolist()
        self.next = 0  # the next candle, for step_at
        self._columns: tuple[list[float], ...] = (
            candles.open.tolist(),
            candles.high.tolist(),
            candles.low.tolist(),
            candles.close.tolist(),
            candles.volume.tolist(),
        )
        self._funding: FundingSeries | None = None
        self._spans: list[tuple[int, int]] = []
        self._market: list[float] = []

    def prepare(self, funding: FundingSeries | None, market: CandleSeries | None) -> None:
        self._funding = funding
        self._spans = funding_events_per_candle(self.candles.open_time, self.state._tf_ms, funding)
        self._market = _aligned_market(self.candles, market, self.state)

    def step(self, t: int) -> None:
        state, funding = self.state, self._funding
        start, end = self._spans[t]
        if end > start and funding is not None:
            close_time = self.times[t] + state._tf_ms
            for k in range(start, end):
                state.observe_funding(
                    FundingRate(funding.symbol, int(funding.time[k]), float(funding.rate[k])),
                    close_time,
                )
        o, h, lo, c, v = self._columns
        self.out[t] = state.update_values(
            self.times[t], o[t], h[t], lo[t], c[t], v[t], self._market[t]
        )

    def step_at(self, open_time: int) -> None:
        """Feed the candle opened at ``open_time`` if the series has one (times ascending)."""
        t = self.next
        if t < len(self.times) and self.times[t] == open_time:
            self.step(t)
            self.next = t + 1

    def matrix(self) -> FeatureMatrix:
        return FeatureMatrix(self.state.names, self.candles.open_time, self.out)


def _aligned_market(
    candles: CandleSeries, market: CandleSeries | None, state: StreamingFeatures
) -> list[float]:
    n = len(candles)
    if state._is_market:
        own: list[float] = candles.close.tolist()
        return own
    if market is None:
        return [NAN] * n
    if market.symbol != state.config.cross_asset:
        raise DataError(f"market series is {market.symbol}, want {state.config.cross_asset}")
    idx = np.searchsorted(market.open_time, candles.open_time)
    idx_c = np.minimum(idx, max(len(market) - 1, 0))
    found = (idx < len(market)) & (market.open_time[idx_c] == candles.open_time)
    aligned: list[float] = np.where(found, market.close[idx_c], np.nan).tolist()
    return aligned
