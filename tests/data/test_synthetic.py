from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.data.synthetic import RegimeSpec, SyntheticConfig, generate_market
from quantum_trader.data.validation import validate_ohlcv


def test_same_seed_same_market_other_seed_other_market() -> None:
    cfg = SyntheticConfig(seed=11, candles=500)
    a = generate_market(cfg, ["BTCUSDT", "ETHUSDT"])
    b = generate_market(cfg, ["BTCUSDT", "ETHUSDT"])
    c = generate_market(SyntheticConfig(seed=12, candles=500), ["BTCUSDT", "ETHUSDT"])
    for x, y in zip(a, b, strict=True):
        assert x.frame.equals(y.frame) and np.array_equal(x.regimes, y.regimes)
    assert not a[0].frame["close"].equals(c[0].frame["close"])
    assert [s.symbol for s in a] == ["SYNBTCUSDT", "SYNETHUSDT"]
    assert all(s.synthetic for s in a)


def test_regimes_switch_and_volatility_clusters() -> None:
    [series] = generate_market(SyntheticConfig(seed=3, candles=6_000), ["BTCUSDT"])
    counts = np.bincount(series.regimes, minlength=4)
    assert (counts > 0).all()  # every regime visited
    switches = int((np.diff(series.regimes) != 0).sum())
    assert 30 < switches < 200  # persistence 0.985 → about 90 expected
    r = np.diff(np.log(series.frame["close"].to_numpy()))
    # volatility clustering: large moves follow large moves
    assert np.corrcoef(np.abs(r[1:]), np.abs(r[:-1]))[0, 1] > 0.1
    volatile = series.regime_names.index("VOLATILE")
    sideways = series.regime_names.index("SIDEWAYS")
    regime = series.regimes[1:]
    assert r[regime == volatile].std() > 2 * r[regime == sideways].std()


def test_jumps_show_up_as_fat_tails() -> None:
    cfg = SyntheticConfig(seed=5, candles=4_000, jump_probability=0.02, jump_scale=0.05)
    [series] = generate_market(cfg, ["BTCUSDT"])
    r = np.diff(np.log(series.frame["close"].to_numpy()))
    kurtosis = ((r - r.mean()) ** 4).mean() / r.var() ** 2
    assert kurtosis > 6  # a normal distribution has 3


def test_symbols_are_correlated_through_the_market_factor() -> None:
    a, b = generate_market(SyntheticConfig(seed=9, candles=3_000), ["AAAUSDT", "BBBUSDT"])
    ra = np.diff(np.log(a.frame["close"].to_numpy()))
    rb = np.diff(np.log(b.frame["close"].to_numpy()))
    assert 0.2 < np.corrcoef(ra, rb)[0, 1] < 0.9


def test_stored_synthetic_data_stays_labelled(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    [series] = generate_market(SyntheticConfig(seed=1, candles=100), ["BTCUSDT"])
    store.write(series.symbol, "1h", series.frame, synthetic=True)
    [entry] = store.list()
    assert entry.symbol == "SYNBTCUSDT" and entry.synthetic


def test_bad_config_fails_naming_the_field() -> None:
    with pytest.raises(ValueError, match="garch_alpha"):
        SyntheticConfig(garch_alpha=0.5, garch_beta=0.6)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    candles=st.integers(1, 300),
    jump=st.floats(0.0, 0.2),
    persistence=st.floats(0.0, 0.999),
    timeframe=st.sampled_from(["5m", "15m", "1h", "4h"]),
)
def test_property_every_output_is_valid_ohlcv(
    seed: int, candles: int, jump: float, persistence: float, timeframe: str
) -> None:
    cfg = SyntheticConfig(
        seed=seed,
        candles=candles,
        timeframe=timeframe,
        jump_probability=jump,
        persistence=persistence,
    )
    for series in generate_market(cfg, ["BTCUSDT", "XRPUSDT"]):
        report = validate_ohlcv(series.frame, timeframe, series.symbol)
        assert report.ok and not report.problems, report.summary()
        f = series.frame
        assert (f.high >= f[["open", "close"]].max(axis=1)).all()
        assert (f.low <= f[["open", "close"]].min(axis=1)).all()
        assert (f.low > 0).all() and (f.volume > 0).all()
        assert len(f) == candles == len(series.regimes)


def _lag1_autocorrelation(close: np.ndarray) -> float:
    r = np.diff(np.log(close))
    return float(np.corrcoef(r[:-1], r[1:])[0, 1])


def test_a_regime_s_momentum_plants_a_learnable_signal_whose_sign_a_switch_flips() -> None:
    """Trending then reverting at a known candle: the lag-1 autocorrelation of returns follows
    the regime (the default regimes have none)."""
    regimes = (
        RegimeSpec("TREND", 0.0, 1.0, momentum=0.4),
        RegimeSpec("REVERT", 0.0, 1.0, momentum=-0.4),
    )
    cfg = SyntheticConfig(
        seed=5, candles=8_000, regimes=regimes, schedule=((0, 0), (4_000, 1)), jump_probability=0
    )
    [series] = generate_market(cfg, ["BTCUSDT"])
    assert (series.regimes[:4_000] == 0).all() and (series.regimes[4_000:] == 1).all()
    close = series.frame["close"].to_numpy()
    assert _lag1_autocorrelation(close[:4_000]) > 0.3
    assert _lag1_autocorrelation(close[4_000:]) < -0.3
    [plain] = generate_market(SyntheticConfig(seed=5, candles=8_000), ["BTCUSDT"])
    assert abs(_lag1_autocorrelation(plain.frame["close"].to_numpy())) < 0.05


def test_a_schedule_must_start_at_zero_and_name_known_regimes() -> None:
    with pytest.raises(ValueError, match="start at 0"):
        SyntheticConfig(schedule=((10, 0),))
    with pytest.raises(ValueError, match="regime indices \\[7\\]"):
        SyntheticConfig(schedule=((0, 0), (100, 7)))
    with pytest.raises(ValueError, match=r"momentum=1\.5"):
        RegimeSpec("X", 0.0, 1.0, momentum=1.5)
