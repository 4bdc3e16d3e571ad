"""Bad market data through the real import path (issue 22, Part B item 4).

Each case writes one bad file and runs ``quantum-trader data import FILE --store STORE`` on a
store that already holds 200 good candles of the series. Every refusal must be one line naming
the file, the row (where the rule is about a row) and the rule, exit 1, and leave every file of
the store byte for byte as it was.

What other tests already cover is not repeated here: the rules one by one on frames
(tests/data/test_validation.py), NaN and out-of-order rows into an empty store
(tests/data/test_cli.py), a corrupted copy of real data (tests/data/test_import_shared.py),
a tampered stored file or page (tests/data/test_store.py, tests/adapters/test_store_checksums.py),
the future candle, wick and volume rules on the store's own API
(tests/data/test_implausible_candles.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.app.cli.data import app
from tests.data.fakes import candles

runner = CliRunner()
STORED = 200
SERIES = candles(STORED + 100)  # the store holds the first 200; the files bring the next ones
NAME = "BTCUSDT-1h"
Writer = Callable[[Path], Path]


def _new(n: int = 60) -> pd.DataFrame:
    return SERIES.iloc[STORED : STORED + n].reset_index(drop=True)


def _parquet(frame: pd.DataFrame, folder: Path, *, checksums: bool = False) -> Path:
    path = folder / f"{NAME}.parquet"
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="none", write_page_checksum=checksums)
    return path


def _csv(frame: pd.DataFrame, folder: Path) -> Path:
    path = folder / f"{NAME}.csv"
    frame.to_csv(path, index=False)
    return path


def _edited(edit: Callable[[pd.DataFrame], pd.DataFrame], csv: bool = False) -> Writer:
    def write(folder: Path) -> Path:
        frame = edit(_new().copy())
        return _csv(frame, folder) if csv else _parquet(frame, folder)

    return write


def _set(row: int, column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(value, float | int):
            frame[column] = frame[column].astype(str)  # a text column, as a bad export has
        frame.loc[row, column] = value
        return frame

    return edit


def _truncated(folder: Path) -> Path:
    path = _parquet(_new(), folder)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _flipped(folder: Path) -> Path:
    """One flipped bit inside a data page of a file that carries page checksums."""
    path = _parquet(_new(), folder, checksums=True)
    data = bytearray(path.read_bytes())
    data[200] ^= 0x01
    path.write_bytes(bytes(data))
    return path


def _not_parquet(folder: Path) -> Path:
    path = folder / f"{NAME}.parquet"
    path.write_bytes(b"PAR1" + bytes(range(256)) * 4 + b"PAR1")
    return path


def _cut_csv(folder: Path) -> Path:
    """A CSV export cut off in the middle of its last row."""
    path = _csv(_new(), folder)
    text = path.read_text()
    path.write_text(text[: len(text) - 30])
    return path


def _empty_csv(folder: Path) -> Path:
    """An export that wrote its header and no row."""
    return _csv(_new(0), folder)


def _rewritten_stored_candle(frame: pd.DataFrame) -> pd.DataFrame:
    """The file starts 50 candles back (those agree with the store) and changes one of them."""
    overlap = SERIES.iloc[STORED - 50 : STORED + 10].reset_index(drop=True)
    overlap.loc[3, "close"] = overlap.loc[3, "close"] * 1.01
    overlap.loc[3, "high"] = max(overlap.loc[3, "high"], overlap.loc[3, "close"])
    return overlap


def _repeat_row(row: int, **changes: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        copy = frame.iloc[[row]].assign(**changes)
        return pd.concat([frame.iloc[: row + 1], copy, frame.iloc[row + 1 :]], ignore_index=True)

    return edit


def _swap(frame: pd.DataFrame) -> pd.DataFrame:
    frame.iloc[[20, 21]] = frame.iloc[[21, 20]].to_numpy()
    return frame


@dataclass(frozen=True)
class Case:
    name: str
    write: Writer
    words: tuple[str, ...]  # in the one line: the rule, the row


CASES = [
    Case("zero price", _edited(_set(5, "low", 0.0)), ("non_positive_price", "(row 5)")),
    Case("negative price", _edited(_set(7, "open", -3.0)), ("non_positive_price", "(row 7)")),
    Case("inf price in a CSV", _edited(_set(5, "close", "inf"), csv=True), ("nan: 1", "(row 5)")),
    Case("high below low", _edited(_set(9, "high", 50.0)), ("high_below_low", "(row 9)")),
    Case(
        "same time twice, different values",
        _edited(_repeat_row(5, volume=123.0)),
        ("conflicting_duplicates", "row 6", "row 5"),
    ),
    Case("same row twice", _edited(_repeat_row(5)), ("duplicate_rows", "(row 6, exact copy)")),
    Case("rows out of order", _edited(_swap), ("out_of_order", "row 21 ")),
    Case(
        "time off the grid",
        _edited(
            lambda f: f.assign(open_time=f.open_time.where(f.index != 3, f.open_time + 60_000))
        ),
        ("off_grid", "(row 3)"),
    ),
    Case(
        "a stored candle rewritten",
        _edited(_rewritten_stored_candle),
        ("contradict stored candles", "(row 3)"),
    ),
    Case("absurd volume", _edited(_set(5, "volume", 1e15)), ("implausible_volume", "(row 5)")),
    Case("thousandfold wick", _edited(_set(8, "high", 1e5)), ("implausible_wick", "(row 8)")),
    Case(
        "candles years ahead",
        _edited(lambda f: f.assign(open_time=f.open_time + 8 * 365 * 86_400_000)),
        ("closes_in_future: 60", "(row 0)"),
    ),
    Case(
        "seconds, not milliseconds",
        _edited(lambda f: f.assign(open_time=f.open_time // 1000)),
        ("looks like seconds",),
    ),
    Case("a column missing", _edited(lambda f: f.drop(columns=["close"])), ("no close column",)),
    Case("a column renamed", _edited(lambda f: f.rename(columns={"open_time": "t"})), ("no time",)),
    Case(
        "text in a price column",
        _edited(_set(5, "close", "abc")),
        ("column 'close' is not numeric", "position 5"),
    ),
    Case("truncated Parquet", _truncated, ("cannot read",)),
    Case("flipped byte, page checksums", _flipped, ("cannot read", "checksum")),
    Case("not a Parquet file", _not_parquet, ("cannot read",)),
    Case("CSV cut mid-row", _cut_csv, ("nan: 1", "(row 59)")),
    Case("no rows, CSV", _empty_csv, ("no rows",)),
    Case("no rows, Parquet", _edited(lambda f: f.iloc[:0]), ("no rows",)),
]


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    # a stored gap too, so the gaps report is among the files that must not change
    CandleStore(root).write("BTCUSDT", "1h", SERIES.iloc[:STORED].drop(index=[50, 51]))
    return root


def _import(path: Path, store: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["import", str(path), "--store", str(store)])
    return result.exit_code, result.output


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_file_is_one_line_naming_file_row_and_rule_and_the_store_is_untouched(
    case: Case, store: Path, tmp_path: Path
) -> None:
    before = _digest(store)
    assert len(before) == 2  # the candles and their gaps report
    folder = tmp_path / "incoming"
    folder.mkdir()
    path = case.write(folder)
    code, out = _import(path, store)
    assert code == 1, out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    assert "Traceback" not in out
    assert path.name in lines[0], out
    for word in case.words:
        assert word in lines[0], out
    assert _digest(store) == before


def test_a_gap_is_imported_with_a_warning_and_every_stored_row_kept(
    store: Path, tmp_path: Path
) -> None:
    """Missing candles are a warning (the exchange did not publish them), never invented: the
    file's rows are added, the stored rows stay exactly as they were."""
    stored = CandleStore(store).load("BTCUSDT", "1h")
    folder = tmp_path / "incoming"
    folder.mkdir()
    path = _parquet(_new().drop(index=[10, 11, 12]), folder)
    code, out = _import(path, store)
    assert code == 0, out
    # the stored gap (2 candles) and the file's (3): the report covers the whole series
    assert "warning:" in out and "5 missing candle(s)" in out
    after = CandleStore(store).load("BTCUSDT", "1h")
    assert len(after) == len(stored) + 57
    pd.testing.assert_frame_equal(after.iloc[: len(stored)], stored)
    assert np.array_equal(
        after.open_time.to_numpy()[len(stored) :],
        _new().drop(index=[10, 11, 12]).open_time.to_numpy(),
    )
