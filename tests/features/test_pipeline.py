"""Streaming equals batch, and no feature at t uses data after t, on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.domain.errors import DataError, LookAheadError
from quantum_trader.domain.market import Candle, FundingRate
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.features.dataset import make_dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.features.pipeline import StreamingFeatures, compute_features
from quantum_trader.features.series import CandleSeries, FundingSeries

# ETH funding starts 2023-01-01: this slice covers the switch from "not available" to available.
START, END = 1_671_000_000_000, 1_675_000_000_000


@pytest.fixture(scope="module")
def eth(data_dir: Path) -> tuple[CandleSeries, FundingSeries | None, CandleSeries]:
    candles = CandleStore(data_dir).series("ETHUSDT", "1h").between(START, END)
    btc = CandleStore(data_dir).series("BTCUSDT", "1h").between(START, END)
    return candles, CandleStore(data_dir).funding_series("ETHUSDT"), btc


def test_at_least_34_features_with_the_families_asked_for() -> None:
    names = StreamingFeatures("ETHUSDT", "1h").names
    assert len(names) >= 34
    for family in ("ret_", "ema14", "sma20", "bb_", "rsi", "macd", "atr", "rvol", "volume_z"):
        assert any(family in n for n in names), family
    for name in ("momentum_20", "funding_rate_bps", "funding_change_bps", "hour_sin", "dow_cos"):
        assert name in names
    assert "btc_ret_1" in names


def test_streaming_equals_batch_on_real_data(
    eth: tuple[CandleSeries, FundingSeries | None, CandleSeries],
) -> None:
    candles, funding, btc = eth
    assert funding is not None
    batch = compute_features(candles, funding, btc)
    live = StreamingFeatures("ETHUSDT", "1h")
    btc_at = {int(t): i for i, t in enumerate(btc.open_time)}
    next_funding = int(np.searchsorted(funding.time, candles.open_time[0] + MS_PER_HOUR))
    rows = []
    for i in range(len(candles)):
        close_time = int(candles.open_time[i]) + MS_PER_HOUR
        settled = []
        while next_funding < len(funding.time) and funding.time[next_funding] < close_time:
            t, r = int(funding.time[next_funding]), float(funding.rate[next_funding])
            settled.append(FundingRate("ETHUSDT", t, r))
            next_funding += 1
        j = btc_at.get(int(candles.open_time[i]))
        market = None if j is None else btc.candle(j)
        rows.append(live.update(candles.candle(i), settled or None, market))
    np.testing.assert_array_equal(np.array(rows), batch.values)
    available = batch.values[:, batch.names.index("funding_available")]
    assert available[0] == 0.0 and available[-1] == 1.0  # funding arrives mid-slice
    assert live.ready
    assert batch.complete[-1] and not batch.complete[0]


def test_no_feature_uses_data_after_t(
    eth: tuple[CandleSeries, FundingSeries | None, CandleSeries],
) -> None:
    candles, funding, btc = eth
    full = compute_features(candles, funding, btc).values
    for t in (150, 400, 777, len(candles) - 2):
        cut = compute_features(candles.slice(0, t + 1), funding, btc.slice(0, t + 1)).values
        np.testing.assert_array_equal(cut, full[: t + 1])
        # Wreck everything after t (prices, market, funding): rows up to t must not move.
        wrecked = _scramble_after(candles, t)
        scrambled_btc = _scramble_after(btc, t)
        assert funding is not None
        late = funding.time > candles.open_time[t] + MS_PER_HOUR
        noisy = FundingSeries(funding.symbol, funding.time, np.where(late, 0.01, funding.rate))
        again = compute_features(wrecked, noisy, scrambled_btc).values
        np.testing.assert_array_equal(again[: t + 1], full[: t + 1])


def _scramble_after(series: CandleSeries, t: int) -> CandleSeries:
    rng = np.random.default_rng(t)
    scale = np.ones(len(series))
    scale[t + 1 :] = rng.uniform(0.5, 2.0, len(series) - t - 1)
    widen = np.where(np.arange(len(series)) > t, 0.01, 0.0)
    return CandleSeries(
        series.symbol,
        series.timeframe,
        series.open_time,
        series.open * scale,
        series.high * scale * (1 + widen),
        series.low * scale * (1 - widen),
        series.close * scale,
        series.volume * scale,
    )


def test_labels_never_leak_into_features(
    eth: tuple[CandleSeries, FundingSeries | None, CandleSeries],
) -> None:
    candles, funding, btc = eth
    four = make_dataset(candles, funding, btc, labels=LabelSpec(horizon=4))
    twelve = make_dataset(candles, funding, btc, labels=LabelSpec(horizon=12, dead_zone=0.01))
    np.testing.assert_array_equal(four.x, twelve.x)
    assert not np.array_equal(four.y, twelve.y, equal_nan=True)
    assert np.isnan(four.y[-4:]).all() and not np.isnan(four.y[:-4]).any()


def test_funding_settled_at_or_after_close_is_look_ahead() -> None:
    live = StreamingFeatures("BTCUSDT", "1h")
    candle = Candle("BTCUSDT", "1h", 0, 10.0, 11.0, 9.0, 10.0, 1.0)
    with pytest.raises(LookAheadError, match="not known before"):
        live.update(candle, FundingRate("BTCUSDT", MS_PER_HOUR, 0.0001))
    values = live.update(candle, FundingRate("BTCUSDT", MS_PER_HOUR - 1, 0.0001))
    row = dict(zip(live.names, values, strict=True))
    assert row["funding_available"] == 1.0 and row["funding_rate_bps"] == pytest.approx(1.0)


def test_missing_funding_and_market_are_zero_with_flag_and_stale_funding_expires() -> None:
    live = StreamingFeatures("ETHUSDT", "1h")
    names = live.names
    for i in range(30):
        c = 100.0 + i
        funding = FundingRate("ETHUSDT", i * MS_PER_HOUR, 0.0002) if i == 0 else None
        row = live.update(
            Candle("ETHUSDT", "1h", i * MS_PER_HOUR, c, c + 1, c - 1, c, 5.0), funding
        )
        flag = row[names.index("funding_available")]
        assert flag == (1.0 if i < 24 else 0.0), i  # stale after 24 h without a settlement
        assert row[names.index("btc_available")] == 0.0
        assert row[names.index("btc_ret_1")] == 0.0
    with pytest.raises(DataError, match="not after"):
        live.update(Candle("ETHUSDT", "1h", 0, 1.0, 1.0, 1.0, 1.0, 1.0))


def test_btc_uses_its_own_return_as_the_market_return(data_dir: Path) -> None:
    btc = CandleStore(data_dir).series("BTCUSDT", "1h").between(START, START + 300 * MS_PER_HOUR)
    m = compute_features(btc)
    names = m.names
    np.testing.assert_array_equal(
        m.values[5:, names.index("btc_ret_1")], m.values[5:, names.index("ret_1")]
    )
    assert (m.values[5:, names.index("rel_strength_4")] == 0.0).all()
