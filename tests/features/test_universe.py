"""The universe features (issue 24 item 1): the market's return and cross-sectional ranks read
from the previous candle's cross-section, the same in every order the symbols' candles of one
hour come in, equal between batch and streaming on real data, never reading after t."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.app.configs import feature_config
from quantum_trader.config import load_settings
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.features.extended import EXTENDED_FEATURES
from quantum_trader.features.pipeline import (
    FIXED_FEATURES,
    FeatureConfig,
    FeatureMatrix,
    StreamingFeatures,
    compute_features,
    compute_universe_features,
)
from quantum_trader.features.series import CandleSeries, FundingSeries
from quantum_trader.features.universe import (
    NOT_AVAILABLE,
    UNIVERSE_FEATURES,
    Published,
    UniverseFeatures,
)

UNIVERSE = FeatureConfig(extended=True, universe=True)
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "LINKUSDT")
# ETH funding starts 2023-01-01: the funding rank goes from "one symbol funded" to a real rank.
START, END = 1_665_400_000_000, 1_679_800_000_000  # 4,000 hours
H = MS_PER_HOUR
COLUMNS = {name: i for i, name in enumerate(UNIVERSE.names)}


def _drop(series: CandleSeries, keep: np.ndarray) -> CandleSeries:
    return CandleSeries(
        series.symbol,
        series.timeframe,
        series.open_time[keep],
        series.open[keep],
        series.high[keep],
        series.low[keep],
        series.close[keep],
        series.volume[keep],
    )


@pytest.fixture(scope="module")
def market(data_dir: Path) -> tuple[dict[str, CandleSeries], dict[str, FundingSeries | None]]:
    store = CandleStore(data_dir)
    candles = {s: store.series(s, "1h").between(START, END) for s in SYMBOLS}
    # a gap of 30 hours in LINK: its row after the gap, and its peers' while it is missing
    link = candles["LINKUSDT"]
    keep = np.ones(len(link), dtype=bool)
    keep[900:930] = False
    candles["LINKUSDT"] = _drop(link, keep)
    return candles, {s: store.funding_series(s) for s in SYMBOLS}


def _streaming(
    candles: Mapping[str, CandleSeries],
    funding: Mapping[str, FundingSeries | None],
    seed: int,
) -> dict[str, np.ndarray]:
    """Every symbol's rows as the live path makes them, the candles of each hour fed in a
    random symbol order (BTC's candle handed to the others as their market candle)."""
    rng = np.random.default_rng(seed)
    universe = UniverseFeatures("1h")
    states = {s: StreamingFeatures(s, "1h", UNIVERSE, universe) for s in candles}
    index = {s: {int(t): i for i, t in enumerate(c.open_time)} for s, c in candles.items()}
    fed = dict.fromkeys(candles, 0)
    rows: dict[str, list[np.ndarray]] = {s: [] for s in candles}
    btc = candles["BTCUSDT"]
    for time in sorted({t for times in index.values() for t in times}):
        here = [s for s in candles if time in index[s]]
        for symbol in rng.permutation(here).tolist():
            settled = []
            rates = funding[symbol]
            while rates is not None and fed[symbol] < len(rates.time):
                k = fed[symbol]
                if rates.time[k] >= time + H:
                    break
                settled.append(FundingRate(symbol, int(rates.time[k]), float(rates.rate[k])))
                fed[symbol] = k + 1
            j = index["BTCUSDT"].get(time)
            market = None if j is None else btc.candle(j)
            candle = candles[symbol].candle(index[symbol][time])
            rows[symbol].append(states[symbol].update(candle, settled or None, market))
    return {s: np.array(r) for s, r in rows.items()}


def _batch(
    candles: Mapping[str, CandleSeries], funding: Mapping[str, FundingSeries | None]
) -> dict[str, FeatureMatrix]:
    return compute_universe_features(candles, funding, candles["BTCUSDT"], UNIVERSE)


def _column(matrix: np.ndarray, name: str) -> np.ndarray:
    return np.asarray(matrix[:, COLUMNS[name]])


# --- the cross-section by hand -------------------------------------------------------------
def test_names_follow_the_extended_set() -> None:
    assert UNIVERSE.names[-6:] == UNIVERSE_FEATURES
    assert UNIVERSE.names[:-6] == FeatureConfig(extended=True).names
    assert FeatureConfig(universe=True).names == FeatureConfig().names + UNIVERSE_FEATURES
    assert len(UNIVERSE.names) == 7 + len(FIXED_FEATURES) + len(EXTENDED_FEATURES) + 6 == 57


def test_market_return_and_ranks_by_hand() -> None:
    universe = UniverseFeatures("1h")
    t = 1_700_000_000_000 - 1_700_000_000_000 % H
    universe.publish("A", t, Published(0.01, 0.05, 0.002, 1.0, True))
    universe.publish("B", t, Published(-0.02, 0.05, 0.004, 3.0, True))
    universe.publish("C", t, Published(0.04, -0.10, 0.003, 0.0, False))
    universe.publish("D", t, Published(0.03, 0.20, 0.001, 2.0, True))
    mkt_1, mkt_24 = (0.01 - 0.02 + 0.04 + 0.03) / 4, (0.05 + 0.05 - 0.10 + 0.20) / 4
    # A and B tie on ret_24 (ranks 2 and 3 of 4 → 2.5 → (2.5 − 1) / 3); A's funding is the
    # lowest of the three funded symbols, C has none: the middle
    assert universe.values("A", t + H) == pytest.approx((mkt_1, mkt_24, 0.5, 1 / 3, 0.0, 1.0))
    assert universe.values("B", t + H) == pytest.approx((mkt_1, mkt_24, 0.5, 1.0, 1.0, 1.0))
    assert universe.values("C", t + H) == pytest.approx((mkt_1, mkt_24, 0.0, 2 / 3, 0.5, 1.0))
    assert universe.values("D", t + H) == pytest.approx((mkt_1, mkt_24, 1.0, 0.0, 0.5, 1.0))
    # the cross-section of t is read at t + 1 only: not at t, nor at t + 2
    assert universe.values("A", t) == NOT_AVAILABLE
    assert universe.values("A", t + 2 * H) == NOT_AVAILABLE
    # a symbol that did not publish at t has no rank
    assert universe.values("E", t + H) == NOT_AVAILABLE


def test_funding_rank_needs_two_funded_symbols_and_the_universe_three() -> None:
    universe = UniverseFeatures("1h")
    t = 10 * H
    universe.publish("A", t, Published(0.01, 0.01, 0.01, 5.0, True))
    universe.publish("B", t, Published(0.02, 0.02, 0.02, 0.0, False))
    assert universe.values("A", t + H) == NOT_AVAILABLE  # two symbols: not a cross-section
    universe.publish("C", t, Published(0.03, 0.03, 0.03, 0.0, False))
    assert universe.values("A", t + H)[4:] == (0.5, 1.0)  # A alone is funded
    assert universe.values("C", t + H)[2:] == (1.0, 1.0, 0.5, 1.0)


def test_only_the_two_newest_cross_sections_are_kept() -> None:
    universe = UniverseFeatures("1h")
    for k in range(5):
        for s in "ABC":
            universe.publish(s, k * H, Published(k, k, k, 0.0, False))
    assert sorted(universe._sections) == [3 * H, 4 * H]
    universe.publish("D", 2 * H, Published(1, 1, 1, 0.0, False))  # too old: dropped
    assert sorted(universe._sections) == [3 * H, 4 * H]
    assert universe.values("A", 5 * H)[0] == 4.0
    with pytest.raises(DataError, match="published twice"):
        universe.publish("A", 4 * H, Published(0, 0, 0, 0.0, False))


# --- refusals and settings ---------------------------------------------------------------
def test_one_symbol_alone_cannot_have_universe_features(
    market: tuple[dict[str, CandleSeries], dict[str, FundingSeries | None]],
) -> None:
    candles, _ = market
    with pytest.raises(ValueError, match="compute_universe_features"):
        compute_features(candles["ETHUSDT"], config=UNIVERSE)
    with pytest.raises(ValueError, match="UniverseFeatures"):
        StreamingFeatures("ETHUSDT", "1h", UNIVERSE)
    with pytest.raises(ValueError, match="UniverseFeatures"):
        StreamingFeatures("ETHUSDT", "1h", UNIVERSE, UniverseFeatures("4h"))


@pytest.mark.usefixtures("clean_env")
def test_the_setting_universe_means_extended_and_cross_sectional(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert feature_config(load_settings()) == FeatureConfig()
    monkeypatch.setenv("QT_FEATURES", "universe")
    settings = load_settings()
    assert settings.features == "universe"
    assert feature_config(settings) == UNIVERSE
    monkeypatch.setenv("QT_FEATURES", "extended")
    assert feature_config(load_settings()) == FeatureConfig(extended=True)


# --- real data ------------------------------------------------------------------------------
def test_without_the_universe_each_matrix_is_the_symbols_own(
    market: tuple[dict[str, CandleSeries], dict[str, FundingSeries | None]],
) -> None:
    candles, funding = market
    config = FeatureConfig(extended=True)
    together = compute_universe_features(candles, funding, candles["BTCUSDT"], config)
    for symbol in ("BTCUSDT", "LINKUSDT"):
        market_series = None if symbol == "BTCUSDT" else candles["BTCUSDT"]
        alone = compute_features(candles[symbol], funding[symbol], market_series, config)
        np.testing.assert_array_equal(together[symbol].values, alone.values)


def test_streaming_equals_batch_in_any_order_on_real_data(
    market: tuple[dict[str, CandleSeries], dict[str, FundingSeries | None]],
) -> None:
    candles, funding = market
    batch = _batch(candles, funding)
    for seed in (1, 2):
        live = _streaming(candles, funding, seed)
        for symbol in SYMBOLS:
            np.testing.assert_array_equal(live[symbol], batch[symbol].values, err_msg=symbol)
    # the universe columns: the base and extended ones are the symbol's own features
    eth = batch["ETHUSDT"]
    alone = compute_features(
        candles["ETHUSDT"], funding["ETHUSDT"], candles["BTCUSDT"], FeatureConfig(extended=True)
    )
    np.testing.assert_array_equal(eth.values[:, :-6], alone.values)
    # never NaN: not available is 0 with its flag 0, during the warm-up too
    assert not np.isnan(eth.values[:, -6:]).any()
    assert _column(eth.values, "xs_available")[:25].sum() == 0.0


def test_the_market_return_is_the_mean_of_the_previous_candle(
    market: tuple[dict[str, CandleSeries], dict[str, FundingSeries | None]],
) -> None:
    candles, funding = market
    batch = _batch(candles, funding)
    ret_1 = {
        s: dict(zip(m.open_time.tolist(), _column(m.values, "ret_1"), strict=True))
        for s, m in batch.items()
    }
    eth = batch["ETHUSDT"]
    available = _column(eth.values, "xs_available")
    checked = 0
    for i, t in enumerate(eth.open_time.tolist()):
        before = [r[t - H] for r in ret_1.values() if t - H in r]
        if i < 30 or len(before) < 3:
            continue
        assert available[i] == 1.0
        assert _column(eth.values, "mkt_ret_1")[i] == pytest.approx(math.fsum(before) / len(before))
        checked += 1
    assert checked > 3_900
    # LINK after its gap: no row of its own at t − 1, so nothing for one candle
    link = batch["LINKUSDT"]
    after_gap = int(np.searchsorted(link.open_time, candles["LINKUSDT"].open_time[900]))
    assert _column(link.values, "xs_available")[after_gap] == 0.0
    assert _column(link.values, "xs_available")[after_gap + 1] == 1.0
    # BTC alone is funded before 2023: the middle; after ETH's funding starts, a real rank
    funding_rank = _column(batch["BTCUSDT"].values, "xs_funding_rank")
    assert set(funding_rank[30:200].tolist()) == {0.5}
    assert set(funding_rank[-200:].tolist()) <= {0.0, 0.5, 1.0}
    assert {0.0, 1.0} <= set(funding_rank[-200:].tolist())


def test_no_universe_feature_reads_after_t(
    market: tuple[dict[str, CandleSeries], dict[str, FundingSeries | None]],
) -> None:
    candles, funding = market
    full = _batch(candles, funding)
    for cut in (700, 2_100, 3_900):
        t_cut = int(candles["BTCUSDT"].open_time[cut])
        rng = np.random.default_rng(cut)
        wrecked = {}
        for symbol, series in candles.items():
            late = series.open_time > t_cut
            scale = np.where(late, rng.uniform(0.5, 2.0, len(series)), 1.0)
            wrecked[symbol] = CandleSeries(
                symbol,
                "1h",
                series.open_time,
                series.open * scale,
                series.high * scale * np.where(late, 1.01, 1.0),
                series.low * scale * np.where(late, 0.99, 1.0),
                series.close * scale,
                series.volume * scale,
            )
        noisy: dict[str, FundingSeries | None] = {}
        for symbol, rates in funding.items():
            if rates is not None:
                late = rates.time >= t_cut + H
                rates = FundingSeries(symbol, rates.time, np.where(late, 0.02, rates.rate))
            noisy[symbol] = rates
        again = _batch(wrecked, noisy)
        for symbol in SYMBOLS:
            upto = full[symbol].open_time <= t_cut
            np.testing.assert_array_equal(
                again[symbol].values[upto], full[symbol].values[upto], err_msg=symbol
            )
