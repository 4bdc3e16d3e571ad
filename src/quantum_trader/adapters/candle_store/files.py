"""File primitives of the candle store: atomic replace, Parquet with metadata, reading inputs.

Atomic means: the new content is written to a temporary file in the same folder, flushed to
disk, then ``os.replace``-d over the target. A crash leaves either the old file or the new one,
never half of either; a stray ``.*.tmp`` file is the only possible leftover.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quantum_trader.domain.errors import DataError

METADATA_KEY = b"quantum_trader"
READABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".feather")
#: column order of Binance kline CSVs (data.binance.vision), which have no header row
BINANCE_KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the replace is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through ``write(temp_path)`` so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_parquet(path: Path, frame: pd.DataFrame, metadata: dict[str, Any]) -> None:
    """Atomically write ``frame`` (no index) with our ``metadata`` in the Parquet schema."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    existing = table.schema.metadata or {}
    table = table.replace_schema_metadata(
        {**existing, METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()}
    )
    # page checksums (CRC32): a flipped byte in a stored page is an error on read, not a value
    atomic_write(
        path,
        lambda tmp: pq.write_table(table, tmp, compression="zstd", write_page_checksum=True),
    )


def write_json(path: Path, payload: dict[str, Any]) -> None:
    text = json.dumps(payload, indent=2, sort_keys=True) + "\n"

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    atomic_write(path, write)


def read_metadata(path: Path) -> dict[str, Any]:
    raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    if raw is None:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise DataError(f"{path}: store metadata is not an object")
    return value


def read_table(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet, Feather or CSV file into a frame; DataError if unreadable."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            # verifies the pages' checksums where the writer stored them (the store always does)
            table = pq.read_table(path, columns=columns, page_checksum_verification=True)
            frame: pd.DataFrame = table.to_pandas()
            return frame
        if suffix == ".feather":
            return pd.read_feather(path, columns=columns)
        if suffix == ".csv":
            return _read_csv(path, columns)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    raise DataError(f"{path}: unsupported file type {suffix!r}; use {', '.join(READABLE_SUFFIXES)}")


def _read_csv(path: Path, columns: list[str] | None) -> pd.DataFrame:
    """A CSV with a header, or a headerless Binance kline CSV (first field is a number)."""
    with path.open(encoding="utf-8") as handle:
        first = handle.readline().split(",", 1)[0].strip()
    if not first.isdigit():
        return pd.read_csv(path, usecols=columns)
    frame = pd.read_csv(path, header=None)
    if frame.shape[1] < 6:
        raise DataError(f"{path}: headerless CSV with {frame.shape[1]} columns; expected klines")
    frame.columns = list(BINANCE_KLINE_COLUMNS[: frame.shape[1]]) + [
        f"extra_{i}" for i in range(frame.shape[1] - len(BINANCE_KLINE_COLUMNS))
    ]
    return frame if columns is None else frame.loc[:, columns]
