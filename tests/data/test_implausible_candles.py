"""Plausible-looking bad data is refused before it reaches the store (issue 22, Part A item 4):
a candle that closes after the wall clock's now, a 1000x wick, a 1e15 volume. The error names
the series, the row and the rule; what was stored before stays as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.clock import SimulatedClock
from quantum_trader.domain.errors import DataError

HOUR = 3_600_000
START = 1_704_067_200_000  # 2024-01-01


def _candles(n: int, start: int = START) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.005, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    return pd.DataFrame(
        {
            "open_time": start + HOUR * np.arange(n, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) * 1.002,
            "low": np.minimum(open_, close) * 0.998,
            "close": close,
            "volume": rng.uniform(900.0, 1100.0, n),
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> CandleStore:
    # the wall clock stands 300 hours after the first candle
    store = CandleStore(tmp_path / "store", clock=SimulatedClock(START + 300 * HOUR))
    store.write("BTCUSDT", "1h", _candles(200))
    return store


def _unchanged(store: CandleStore, before: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(store.load("BTCUSDT", "1h"), before)


def test_a_candle_that_closes_after_now_is_refused(store: CandleStore) -> None:
    before = store.load("BTCUSDT", "1h")
    closed = _candles(100, START + 200 * HOUR)  # the last closes at now: it has closed
    future = _candles(1, start=START + 300 * HOUR)  # closes an hour after now: not yet
    with pytest.raises(
        DataError, match=r"closes_in_future: 1 \[2024-01-13T12:00:00Z .*\(row 100\)"
    ):
        store.append("BTCUSDT", "1h", pd.concat([closed, future], ignore_index=True))
    _unchanged(store, before)
    store.append("BTCUSDT", "1h", closed)
    assert store.last_open_time("BTCUSDT", "1h") == START + 299 * HOUR


def test_a_thousandfold_wick_is_refused(store: CandleStore) -> None:
    before = store.load("BTCUSDT", "1h")
    bad = _candles(10, start=START + 200 * HOUR)
    bad.loc[4, "high"] = bad.loc[4, "close"] * 1000.0
    with pytest.raises(DataError, match=r"implausible_wick: 1 \[.*\(row 4\)"):
        store.append("BTCUSDT", "1h", bad)
    _unchanged(store, before)


def test_an_absurd_volume_is_refused_against_the_stored_series(store: CandleStore) -> None:
    before = store.load("BTCUSDT", "1h")
    bad = _candles(3, start=START + 200 * HOUR)  # too few rows alone: the merge is checked
    bad.loc[1, "volume"] = 1e15
    # judged against the stored series, named by the new rows' own subject and row (it was
    # "after merge … (row 201)": neither the file nor its row)
    with pytest.raises(
        DataError, match=r"BTCUSDT 1h from new.csv: 3 rows .*implausible_volume: 1 \[.*\(row 1\)\]"
    ):
        store.merge("BTCUSDT", "1h", bad, source="new.csv")
    _unchanged(store, before)


def test_real_candles_pass_the_plausibility_rules(data_dir: Path) -> None:
    """The rules' limits sit far above what the shared data's 28 symbols ever printed."""
    shared = CandleStore(data_dir)
    for path in sorted((data_dir / "ohlcv").glob("*-1h.parquet")):
        symbol = path.name.split("-")[0]
        report = shared.validate(symbol, "1h")
        assert not report.count("implausible_wick") and not report.count("implausible_volume")
        assert not report.count("closes_in_future")
