from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantum_trader.adapters.candle_store import CandleStore, import_file
from quantum_trader.adapters.candle_store.files import atomic_write
from quantum_trader.data.evidence import Counters
from quantum_trader.domain.errors import DataError
from tests.data.fakes import HOUR, candles


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_write_then_load_round_trip_with_bounds(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    frame = candles(48)
    store.write("BTCUSDT", "1h", frame)
    loaded = store.load("BTCUSDT", "1h")
    pd.testing.assert_frame_equal(loaded, frame)
    assert loaded["open_time"].dtype == np.int64
    start, end = int(frame.open_time[10]), int(frame.open_time[20])
    part = store.load("BTCUSDT", "1h", start=start, end=end)
    assert part.open_time.tolist() == frame.open_time[10:20].tolist()  # end is exclusive
    assert store.symbols("1h") == ["BTCUSDT"] and store.symbols("5m") == []
    assert store.last_open_time("BTCUSDT", "1h") == int(frame.open_time.iloc[-1])
    assert store.counters.values["candles_loaded"] == 58


def test_missing_series_is_a_data_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"ETHUSDT-1h\.parquet"):
        CandleStore(tmp_path).load("ETHUSDT", "1h")


def test_append_merges_agreeing_overlap_and_refuses_contradictions(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    frame = candles(30)
    store.write("BTCUSDT", "1h", frame.iloc[:20])
    report = store.append("BTCUSDT", "1h", frame.iloc[15:])  # 5 overlapping, identical
    assert report.rows == 30 and report.ok
    before = snapshot(tmp_path)
    changed = candles(31).iloc[25:].copy()
    changed["close"] = changed["close"] * 1.01
    changed["high"] = changed[["high", "close"]].max(axis=1)
    with pytest.raises(DataError, match="contradict stored candles"):
        store.append("BTCUSDT", "1h", changed)
    assert snapshot(tmp_path) == before


def test_gaps_are_stored_and_reported_beside_the_data(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    frame = candles(24).drop(index=[10, 11]).reset_index(drop=True)
    report = store.write("BTCUSDT", "1h", frame)
    assert report.ok and report.missing_candles == 2
    gaps = json.loads(store.gaps_path("BTCUSDT", "1h").read_text())
    assert gaps["missing_candles"] == 2
    assert gaps["gaps"][0]["first_missing_ms"] == int(candles(24).open_time[10])
    [entry] = store.list()
    assert (entry.symbol, entry.timeframe, entry.rows, entry.gaps) == ("BTCUSDT", "1h", 22, 2)
    store.append("BTCUSDT", "1h", candles(24).iloc[10:12])  # the real candles arrive later
    assert not store.gaps_path("BTCUSDT", "1h").exists()
    assert store.list()[0].gaps == 0


def test_a_tampered_file_fails_on_load(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    store.write("BTCUSDT", "1h", candles(10))
    path = store.ohlcv_path("BTCUSDT", "1h")
    bad = pd.read_parquet(path)
    bad.loc[3, "close"] = np.nan
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), path)
    with pytest.raises(DataError, match="nan: 1"):
        store.load("BTCUSDT", "1h")
    assert store.counters.values["validation_failures"] == 1
    assert not store.validate("BTCUSDT", "1h").ok


def test_atomic_write_leaves_old_file_when_the_writer_crashes(tmp_path: Path) -> None:
    target = tmp_path / "x" / "file.bin"
    atomic_write(target, lambda p: p.write_bytes(b"old content"))

    def crash(p: Path) -> None:
        p.write_bytes(b"half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, crash)
    assert target.read_bytes() == b"old content"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]  # no temp file left


def test_synthetic_label_cannot_be_lost(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    with pytest.raises(DataError, match="SYN"):
        store.write("BTCUSDT", "1h", candles(5), synthetic=True)
    with pytest.raises(DataError, match="SYN"):
        store.write("SYNBTCUSDT", "1h", candles(5))
    store.write("SYNBTCUSDT", "1h", candles(5), synthetic=True)
    assert store.is_synthetic("SYNBTCUSDT", "1h")
    assert store.list()[0].synthetic


def test_funding_round_trip_and_counters_forwarded(tmp_path: Path) -> None:
    seen: list[tuple[str, int]] = []

    class Handle:
        def count(self, counter: str, n: int = 1) -> None:
            seen.append((counter, n))

    store = CandleStore(tmp_path, counters=Counters(Handle()))
    times = np.arange(6, dtype=np.int64) * 8 * HOUR + 1_704_067_200_000
    store.merge_funding("BTCUSDT", pd.DataFrame({"funding_time": times, "rate": [1e-4] * 6}))
    loaded = store.load_funding("BTCUSDT", start=int(times[2]))
    assert loaded.funding_time.tolist() == times[2:].tolist()
    assert store.last_funding_time("BTCUSDT") == int(times[-1])
    assert [e.rows for e in store.list_funding()] == [6]
    assert ("writes", 1) in seen and ("funding_loaded", 4) in seen


def test_headerless_binance_kline_csv_imports(tmp_path: Path) -> None:
    frame = candles(12)
    klines = frame.assign(
        close_time=frame.open_time + HOUR - 1, quote_volume=1.0, count=5, tb=0.5, tbq=0.6, ignore=0
    )
    path = tmp_path / "BTCUSDT-1h-2024-01.csv"
    klines.to_csv(path, index=False, header=False)
    store = CandleStore(tmp_path / "store")
    result = import_file(store, path)
    assert (result.symbol, result.timeframe, result.rows_added) == ("BTCUSDT", "1h", 12)
    pd.testing.assert_frame_equal(store.load("BTCUSDT", "1h"), frame)


def test_time_units_other_than_ms_are_refused(tmp_path: Path) -> None:
    seconds = candles(3).assign(open_time=lambda f: f.open_time // 1000)
    with pytest.raises(DataError, match="looks like seconds"):
        CandleStore(tmp_path).write("BTCUSDT", "1h", seconds)
    micros = candles(3).assign(open_time=lambda f: f.open_time * 1000)
    with pytest.raises(DataError, match="looks like microseconds"):
        CandleStore(tmp_path).write("BTCUSDT", "1h", micros)
    assert not tmp_path.joinpath("ohlcv").exists()
