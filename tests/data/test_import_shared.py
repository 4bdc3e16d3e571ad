"""Acceptance: the shared real data imports cleanly; a corrupted copy changes nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantum_trader.adapters.candle_store import CandleStore, import_directory, import_file
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.time import fmt

pytestmark = pytest.mark.data


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_import_btcusdt_1h_then_validate(data_dir: Path, tmp_path: Path) -> None:
    store = CandleStore(tmp_path / "store")
    result = import_file(store, data_dir / "ohlcv" / "BTCUSDT-1h.parquet")
    assert (result.symbol, result.timeframe, result.rows_added) == ("BTCUSDT", "1h", 31_973)
    report = store.validate("BTCUSDT", "1h")
    assert report.rows == 31_973
    assert report.missing_candles == 0 and not report.errors and not report.warnings
    assert fmt(report.first or 0) == "2020-10-23T08:00:00Z"
    assert fmt(report.last or 0) == "2024-06-16T12:00:00Z"
    raw = pd.read_parquet(data_dir / "ohlcv" / "BTCUSDT-1h.parquet")
    loaded = store.load("BTCUSDT", "1h")
    assert np.array_equal(loaded["close"].to_numpy(), raw["close"].to_numpy())
    assert int(loaded.open_time[0]) == int(raw.timestamp[0].timestamp() * 1000)
    again = import_file(store, data_dir / "ohlcv" / "BTCUSDT-1h.parquet")
    assert again.rows_added == 0  # importing twice is harmless


def test_corrupt_copy_fails_naming_every_problem_and_leaves_store_unchanged(
    data_dir: Path, tmp_path: Path
) -> None:
    store_dir = tmp_path / "store"
    store = CandleStore(store_dir)
    import_file(store, data_dir / "funding" / "BTCUSDT-funding.parquet")  # something already there
    before = digest(store_dir)

    raw = pd.read_parquet(data_dir / "ohlcv" / "BTCUSDT-1h.parquet")
    bad = raw.copy()
    bad.loc[100, "close"] = np.nan
    bad.iloc[[200, 201]] = bad.iloc[[201, 200]].to_numpy()  # two swapped rows
    bad = pd.concat([bad.iloc[:301], bad.iloc[[300, 300]], bad.iloc[301:]], ignore_index=True)
    path = tmp_path / "BTCUSDT-1h.parquet"
    bad.to_parquet(path)

    with pytest.raises(DataError) as err:
        import_file(store, path)
    message = str(err.value)
    stamp = lambda i: fmt(int(raw.timestamp[i].timestamp() * 1000))  # noqa: E731
    assert "duplicate_rows: 2" in message and stamp(300) in message
    assert "nan: 1" in message and stamp(100) in message
    assert "out_of_order: 1" in message and stamp(200) in message and stamp(201) in message
    assert "nothing written" in message
    assert digest(store_dir) == before
    assert store.list() == []
    assert store.counters.values["validation_failures"] == 1

    # --repair removes the exact copies and the swap, but never the NaN price
    with pytest.raises(DataError, match="nan: 1") as err:
        import_file(store, path, repair=True)
    assert "duplicate_rows" not in str(err.value) and "out_of_order" not in str(err.value)
    assert digest(store_dir) == before


def test_real_15m_slice_with_missing_candles_imports_from_csv(
    data_dir: Path, tmp_path: Path
) -> None:
    raw = pd.read_parquet(data_dir / "ohlcv" / "BTCUSDT-15m.parquet")
    day = raw[(raw.timestamp >= "2023-11-10") & (raw.timestamp < "2023-11-11")]
    csv = tmp_path / "BTCUSDT_15m.csv"
    day.to_csv(csv, index=False)  # timestamps become text like 2023-11-10 00:00:00+00:00
    store = CandleStore(tmp_path / "store")
    result = import_file(store, csv)
    assert result.rows_added == len(day) == 94
    assert result.report is not None and result.report.ok
    assert [fmt(g.start) for g in result.report.gaps] == [
        "2023-11-10T15:00:00Z",
        "2023-11-10T16:30:00Z",
    ]
    gaps = json.loads(store.gaps_path("BTCUSDT", "15m").read_text())
    assert gaps["missing_candles"] == 2
    assert store.validate("BTCUSDT", "15m").count("gaps") == 2


def test_import_directory_reports_bad_files_and_keeps_good_ones(
    data_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "in"
    (src / "funding").mkdir(parents=True)
    funding = pd.read_parquet(data_dir / "funding" / "ETHUSDT-funding.parquet")
    funding.to_parquet(src / "funding" / "ETHUSDT-funding.parquet")
    bad = funding.head(10).copy()
    bad.loc[4, "funding_rate"] = 0.5  # 50% per settlement: a unit error
    bad.to_parquet(src / "funding" / "BTCUSDT-funding.parquet")
    store = CandleStore(tmp_path / "store")
    results = import_directory(store, src)
    by_name = {r.path.name: r for r in results}
    assert by_name["ETHUSDT-funding.parquet"].ok
    assert by_name["ETHUSDT-funding.parquet"].rows_added == 1_598
    assert not by_name["BTCUSDT-funding.parquet"].ok
    assert "rate_out_of_range: 1" in (by_name["BTCUSDT-funding.parquet"].error or "")
    assert [e.symbol for e in store.list_funding()] == ["ETHUSDT"]
