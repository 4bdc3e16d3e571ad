"""Importing files into the store: the shared data's layout, CSV exports, whole folders.

The symbol and timeframe come from the file name (``BTCUSDT-1h.parquet``, ``BTCUSDT_1h.csv``,
``BTCUSDT-funding.parquet``) unless given. A file is imported whole or not at all: it is
validated (and merged with what is stored) before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from quantum_trader.adapters.candle_store.files import READABLE_SUFFIXES, read_table
from quantum_trader.data.ports import EvidenceCounter
from quantum_trader.data.validation import RepairLog, ValidationReport
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.time import timeframe_ms

FUNDING = "funding"
_NAME = re.compile(r"^(?P<symbol>[A-Za-z0-9]+)[-_](?P<tf>\d+[mhdw]|funding)(?:[-_.].*)?$")


class Merged(Protocol):
    """What a merge reports back: rows new to the store, the validation and any repair."""

    @property
    def rows_added(self) -> int: ...
    @property
    def report(self) -> ValidationReport: ...
    @property
    def repair(self) -> RepairLog | None: ...


class Merger(Protocol):
    """The part of a store an import needs (``CandleStore`` fits); the store knows no importer.

    Typed this small so that importing depends on the store's shape, not on its file, and the
    two files do not import each other.
    """

    @property
    def counters(self) -> EvidenceCounter: ...

    def merge(
        self, symbol: str, timeframe: str, frame: pd.DataFrame, *, repair: bool, source: str
    ) -> Merged: ...

    def merge_funding(
        self, symbol: str, frame: pd.DataFrame, *, repair: bool, source: str
    ) -> Merged: ...


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What one file did: rows read, rows new to the store, and the validation report.

    ``error`` is set (and nothing was written) when the file failed, in a folder import.
    """

    path: Path
    symbol: str
    timeframe: str
    rows_in_file: int
    rows_added: int
    report: ValidationReport | None
    repair: RepairLog | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def infer_name(path: Path) -> tuple[str, str]:
    """(symbol, timeframe or "funding") from a file name.

    >>> infer_name(Path("ohlcv/BTCUSDT-1h.parquet")), infer_name(Path("ETHUSDT_funding.csv"))
    (('BTCUSDT', '1h'), ('ETHUSDT', 'funding'))
    """
    stem = path.name.split(".", 1)[0]
    match = _NAME.match(stem)
    if match is None:
        raise DataError(
            f"{path}: cannot tell symbol and timeframe from the name; "
            "name it SYMBOL-TF (e.g. BTCUSDT-1h.csv) or give --symbol and --timeframe"
        )
    return match["symbol"].upper(), match["tf"]


def import_file(
    store: Merger,
    path: Path,
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    repair: bool = False,
) -> ImportResult:
    """Validate ``path`` and merge it into ``store``; DataError (store untouched) if invalid."""
    if not path.exists():  # said first: a missing file's name is not what is wrong with it
        raise DataError(f"{path}: no such file")
    if symbol is None or timeframe is None:
        named_symbol, named_tf = infer_name(path)
        symbol = symbol or named_symbol
        timeframe = timeframe or named_tf
    if timeframe != FUNDING:
        timeframe_ms(timeframe)
    raw = read_table(path)
    try:
        if raw.empty:
            # an export that wrote its header and no row is a failed export, not "nothing new"
            raise DataError(f"{path}: no rows (the file holds no data; nothing was imported)")
        if timeframe == FUNDING:
            result = store.merge_funding(symbol, raw, repair=repair, source=path.name)
        else:
            result = store.merge(symbol, timeframe, raw, repair=repair, source=path.name)
    except DataError:
        store.counters.count("import_failures")
        raise
    store.counters.count("imports")
    store.counters.count("rows_imported", result.rows_added)
    return ImportResult(
        path=path,
        symbol=symbol,
        timeframe=timeframe,
        rows_in_file=len(raw),
        rows_added=result.rows_added,
        report=result.report,
        repair=result.repair,
    )


def importable_files(folder: Path) -> list[Path]:
    """Readable files under ``folder`` (recursively), hidden ones skipped, in name order."""
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in READABLE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def import_directory(
    store: Merger,
    folder: Path,
    *,
    repair: bool = False,
    on_file: Callable[[Path], None] | None = None,
) -> list[ImportResult]:
    """Import each file on its own; a bad file is reported (``error``) and the rest go on."""
    results = []
    for path in importable_files(folder):
        if on_file is not None:
            on_file(path)
        try:
            results.append(import_file(store, path, repair=repair))
        except DataError as exc:
            results.append(ImportResult(path, "?", "?", 0, 0, None, None, error=str(exc)))
    return results
