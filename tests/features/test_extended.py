"""The extended feature set (issue 24): streaming equals batch on real data, nothing after t is
read, each family means what docs/models.md says, and the base set is untouched."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.clock import SimulatedClock
from quantum_trader.data.guard import GuardedCandleFeed
from quantum_trader.domain.errors import LookAheadError
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR
from quantum_trader.features.extended import EXTENDED_FEATURES, FUNDING_NORM
from quantum_trader.features.pipeline import FeatureConfig, StreamingFeatures, compute_features
from quantum_trader.features.series import CandleSeries, FundingSeries

EXTENDED = FeatureConfig(extended=True)
# ETH funding starts 2023-01-01: 2,000 hours before it and 2,000 after.
START, END = 1_665_400_000_000, 1_679_800_000_000


@pytest.fixture(scope="module")
def eth(data_dir: Path) -> tuple[CandleSeries, FundingSeries, CandleSeries]:
    store = CandleStore(data_dir)
    funding = store.funding_series("ETHUSDT")
    assert funding is not None
    return (
        store.series("ETHUSDT", "1h").between(START, END),
        funding,
        store.series("BTCUSDT", "1h").between(START, END),
    )


def _column(values: np.ndarray, name: str) -> np.ndarray:
    return np.asarray(values[:, EXTENDED.names.index(name)])


def test_extended_appends_its_features_and_leaves_the_base_row_alone(
    eth: tuple[CandleSeries, FundingSeries, CandleSeries],
) -> None:
    candles, funding, btc = eth
    base = compute_features(candles, funding, btc)
    extended = compute_features(candles, funding, btc, EXTENDED)
    assert extended.names == base.names + EXTENDED_FEATURES
    np.testing.assert_array_equal(extended.values[:, : len(base.names)], base.values)


def test_streaming_equals_batch_on_real_data(
    eth: tuple[CandleSeries, FundingSeries, CandleSeries],
) -> None:
    candles, funding, btc = eth
    batch = compute_features(candles, funding, btc, EXTENDED)
    live = StreamingFeatures("ETHUSDT", "1h", EXTENDED)
    btc_at = {int(t): i for i, t in enumerate(btc.open_time)}
    following = int(np.searchsorted(funding.time, candles.open_time[0] + MS_PER_HOUR))
    rows = []
    for i in range(len(candles)):
        close_time = int(candles.open_time[i]) + MS_PER_HOUR
        settled = []
        while following < len(funding.time) and funding.time[following] < close_time:
            t, rate = int(funding.time[following]), float(funding.rate[following])
            settled.append(FundingRate("ETHUSDT", t, rate))
            following += 1
        j = btc_at.get(int(candles.open_time[i]))
        market = None if j is None else btc.candle(j)
        rows.append(live.update(candles.candle(i), settled or None, market))
    np.testing.assert_array_equal(np.array(rows), batch.values)
    complete = batch.complete
    # complete within the main job's 500-candle warm-up, and again once funding's norm is known
    assert complete[500] and not complete[335]
    first_funded = int(np.argmax(_column(batch.values, "funding_rate_bps") != 0.0))
    assert not complete[first_funded]  # the norm needs 30 settlements
    assert complete[first_funded + 8 * FUNDING_NORM + 8]
    assert complete[-1] and live.ready


def test_no_extended_feature_reads_after_t(
    eth: tuple[CandleSeries, FundingSeries, CandleSeries],
) -> None:
    candles, funding, btc = eth
    full = compute_features(candles, funding, btc, EXTENDED).values
    for t in (600, 2_500, len(candles) - 30):
        rng = np.random.default_rng(t)
        scale = np.ones(len(candles))
        scale[t + 1 :] = rng.uniform(0.5, 2.0, len(candles) - t - 1)
        wrecked = CandleSeries(
            candles.symbol,
            candles.timeframe,
            candles.open_time,
            candles.open * scale,
            candles.high * scale * 1.01,
            candles.low * scale * 0.99,
            candles.close * scale,
            candles.volume * scale,
        )
        late = funding.time >= candles.open_time[t] + MS_PER_HOUR
        noisy = FundingSeries(funding.symbol, funding.time, np.where(late, 0.02, funding.rate))
        again = compute_features(wrecked, noisy, btc, EXTENDED).values
        # the high/low widening touches no extended feature; every row up to t is unchanged
        np.testing.assert_array_equal(again[: t + 1, 41:], full[: t + 1, 41:])


def _path(closes: list[float], start: int = 0) -> CandleSeries:
    n = len(closes)
    close = np.asarray(closes, dtype=np.float64)
    return CandleSeries(
        "XUSDT",
        "1h",
        start + np.arange(n, dtype=np.int64) * MS_PER_HOUR,
        close,
        close * 1.001,
        close * 0.999,
        close,
        np.full(n, 10.0),
    )


def test_higher_timeframes_read_completed_bars_only() -> None:
    rng = np.random.default_rng(3)
    closes = list(100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 24 * 40))))
    series = _path(closes)  # starts at 00:00 UTC: a 4 h bar ends with every 4th candle
    values = compute_features(series, config=EXTENDED).values
    t = 24 * 35 + 5  # 05:00 on day 35: the last completed 4 h bar closed at 04:00
    h4_closes = np.asarray(closes[3 : t + 1 : 4])  # candles closing at 04:00, 08:00, …
    ema = h4_closes[:20].mean()
    for x in h4_closes[20:]:
        ema += 2.0 / 21.0 * (x - ema)
    assert _column(values, "h4_trend")[t] == pytest.approx(closes[t] / ema - 1.0, rel=1e-12)
    day_closes = np.asarray(closes[23 : t + 1 : 24])  # the day ends with the 23:00 candle
    assert _column(values, "d1_ret")[t] == pytest.approx(
        math.log(day_closes[-1] / day_closes[-2]), rel=1e-12
    )
    # the candle that completes a day moves d1_ret; the hours after it do not
    d1 = _column(values, "d1_ret")
    assert d1[24 * 36 - 1] != d1[24 * 36 - 2]
    assert len(set(d1[24 * 36 - 1 : 24 * 37 - 1].tolist())) == 1


def test_funding_z_is_the_distance_from_the_last_30_settlements() -> None:
    n = 24 * 20
    series = _path([100.0] * n, start=MS_PER_DAY)
    times = MS_PER_DAY + np.arange(0, n, 8, dtype=np.int64) * MS_PER_HOUR
    rates = np.where(np.arange(len(times)) % 2 == 0, 0.0001, 0.0003)
    rates[-1] = 0.001
    funding = FundingSeries("XUSDT", times, rates)
    values = compute_features(series, funding, config=EXTENDED).values
    norm = rates[-FUNDING_NORM:]
    last = n - 1  # the last settlement (at hour n − 8) is the latest known at the last close
    assert _column(values, "funding_norm_bps")[last] == pytest.approx(norm.mean() * 1e4)
    assert _column(values, "funding_z")[last] == pytest.approx((0.001 - norm.mean()) / norm.std())
    assert math.isnan(_column(values, "funding_z")[8 * 20])  # 21 settlements: no norm yet


def test_volatility_regime_compares_a_day_with_two_weeks() -> None:
    rng = np.random.default_rng(5)
    calm = rng.normal(0, 0.002, 400)
    wild = rng.normal(0, 0.02, 24)
    closes = list(100.0 * np.exp(np.cumsum(np.concatenate([calm, wild]))))
    values = compute_features(_path(closes), config=EXTENDED).values
    assert _column(values, "vol_regime")[399] == pytest.approx(0.0, abs=0.5)
    # a wild day against a fortnight that holds it: log(0.02 / ~0.0057) ≈ 1.26
    assert _column(values, "vol_regime")[-1] > 1.0


def test_features_fed_through_the_data_guard_equal_the_batch_matrix(
    eth: tuple[CandleSeries, FundingSeries, CandleSeries],
) -> None:
    """The live path only gets candles the read guard serves (closed at the clock's now, else
    LookAheadError); the batch matrix equals what it computes, so no batch row reads later."""
    candles, _, btc = eth
    n = 800
    clock = SimulatedClock(int(candles.open_time[0]))
    feed = GuardedCandleFeed(clock)
    for series in (candles, btc):
        part = series.slice(0, n)
        columns = ("open", "high", "low", "close", "volume")
        frame = pd.DataFrame(
            {"open_time": part.open_time, **{c: getattr(part, c) for c in columns}}
        )
        feed.add(series.symbol, "1h", frame)
    live = StreamingFeatures("ETHUSDT", "1h", EXTENDED)
    rows = []
    for i in range(n):
        opened = int(candles.open_time[i])
        with pytest.raises(LookAheadError):  # still open: the guard refuses it
            feed.candle("ETHUSDT", "1h", opened)
        clock.advance_to(opened + MS_PER_HOUR)
        rows.append(
            live.update(feed.candle("ETHUSDT", "1h", opened), None, feed.latest("BTCUSDT", "1h"))
        )
    batch = compute_features(candles.slice(0, n), None, btc.slice(0, n), EXTENDED)
    np.testing.assert_array_equal(np.array(rows), batch.values)
    assert batch.complete[-1]
