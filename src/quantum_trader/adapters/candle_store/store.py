"""The local candle store: one Parquet file per symbol and timeframe, validated in and out.

Files are imported by :mod:`.importer` (``import_file(store, path)``), which sees the store
through its small ``Merger`` protocol.

Layout under ``root``::

    ohlcv/BTCUSDT-1h.parquet        open_time (int64 ms, candle open), open, high, low, close, volume
    ohlcv/BTCUSDT-1h.gaps.json      missing candles of that series (report; never filled)
    funding/BTCUSDT-funding.parquet funding_time (int64 ms), rate

Every write validates first and replaces the file atomically, so a bad input or a crash leaves
the store as it was. Every load validates again (a file edited by hand is caught). The Parquet
schema metadata records ``symbol``, ``timeframe``, ``synthetic`` and ``source``.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from quantum_trader.adapters.candle_store import files
from quantum_trader.clock.clock import Clock, WallClock
from quantum_trader.data.evidence import Counters
from quantum_trader.data.frames import (
    FUNDING_COLUMNS,
    OHLCV_COLUMNS,
    funding_records,
    normalise_funding,
    normalise_ohlcv,
)
from quantum_trader.data.ports import EvidenceCounter
from quantum_trader.data.symbols import check_symbol, is_synthetic
from quantum_trader.data.validation import (
    RepairLog,
    ValidationReport,
    find_gaps,
    repair,
    validate_funding,
    validate_ohlcv,
)
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.time import fmt, timeframe_ms
from quantum_trader.features.series import CandleSeries, FundingSeries

FUNDING = "funding"


@dataclass(frozen=True, slots=True)
class StoreEntry:
    """One stored series. ``gaps`` counts missing candles (0 for funding)."""

    symbol: str
    timeframe: str
    rows: int
    first: int | None
    last: int | None
    gaps: int
    synthetic: bool
    path: Path


@dataclass(frozen=True, slots=True)
class WriteResult:
    report: ValidationReport
    rows_before: int
    rows_after: int
    repair: RepairLog | None

    @property
    def rows_added(self) -> int:
        return self.rows_after - self.rows_before


def _slice(frame: pd.DataFrame, column: str, start: int | None, end: int | None) -> pd.DataFrame:
    times = frame[column].to_numpy()
    lo = 0 if start is None else int(np.searchsorted(times, start, side="left"))
    hi = len(times) if end is None else int(np.searchsorted(times, end, side="left"))
    return frame.iloc[lo:hi].reset_index(drop=True)


def _merge(old: pd.DataFrame, new: pd.DataFrame, column: str, subject: str) -> pd.DataFrame:
    """Stored rows plus new ones; a time present in both must carry identical values."""
    if old.empty:
        return new.reset_index(drop=True)
    both = new[column].isin(old[column].to_numpy()).to_numpy()
    if both.any():
        stored = old.set_index(column).loc[new.loc[both, column]]
        incoming = new.loc[both].set_index(column)
        differs = ~(
            (stored.to_numpy() == incoming.to_numpy())
            | (np.isnan(stored.to_numpy()) & np.isnan(incoming.to_numpy()))
        ).all(axis=1)
        if differs.any():
            times = incoming.index[differs][:3]
            rows = np.flatnonzero(both)[differs][:3]  # the new frame's own row numbers
            shown = "; ".join(
                f"{fmt(int(t))} (row {row}) stored {stored.loc[t].to_dict()} "
                f"vs new {incoming.loc[t].to_dict()}"
                for t, row in zip(times, rows, strict=True)
            )
            raise DataError(
                f"{subject}: {int(differs.sum())} new row(s) contradict stored candles, "
                f"nothing written: {shown}"
            )
    merged = pd.concat([old, new.loc[~both]], ignore_index=True)
    return merged.sort_values(column, kind="stable").reset_index(drop=True)


class CandleStore:
    """Parquet candle and funding files under ``root`` (see the module docstring)."""

    def __init__(
        self, root: Path, counters: EvidenceCounter | None = None, clock: Clock | None = None
    ) -> None:
        self.root = Path(root)
        self.counters = Counters(counters)
        #: the wall clock: a candle that closes after its now is refused (it cannot exist yet)
        self.clock: Clock = clock if clock is not None else WallClock()

    def sweep_temporary(self) -> int:
        """Remove the temporary files of writes a crash interrupted (``.*.tmp``, see
        ``files.atomic_write``); only safe while nobody writes to the store (the engine lock's
        holder calls it). Returns how many."""
        leftovers = [
            p for sub in ("ohlcv", FUNDING) for p in (self.root / sub).glob(".*.tmp") if p.is_file()
        ]
        for path in leftovers:
            path.unlink(missing_ok=True)
        return len(leftovers)

    # --- paths ------------------------------------------------------------------------------
    def ohlcv_path(self, symbol: str, timeframe: str) -> Path:
        timeframe_ms(timeframe)
        return self.root / "ohlcv" / f"{check_symbol(symbol)}-{timeframe}.parquet"

    def gaps_path(self, symbol: str, timeframe: str) -> Path:
        return self.ohlcv_path(symbol, timeframe).with_suffix(".gaps.json")

    def funding_path(self, symbol: str) -> Path:
        return self.root / "funding" / f"{check_symbol(symbol)}-funding.parquet"

    # --- reading ----------------------------------------------------------------------------
    def _read(self, path: Path, what: str) -> pd.DataFrame:
        if not path.is_file():
            raise DataError(
                f"no {what} in the store at {self.root} (expected {path}); "
                "import a file or download first"
            )
        return files.read_table(path)

    def validate(self, symbol: str, timeframe: str) -> ValidationReport:
        """Full quality report of a stored series (does not raise on problems)."""
        path = self.ohlcv_path(symbol, timeframe)
        frame = normalise_ohlcv(self._read(path, f"{symbol} {timeframe} candles"), str(path))
        return validate_ohlcv(
            frame, timeframe, f"{symbol} {timeframe} ({path})", now=self.clock.now()
        )

    def validate_funding(self, symbol: str) -> ValidationReport:
        path = self.funding_path(symbol)
        frame = normalise_funding(self._read(path, f"{symbol} funding"), str(path))
        return validate_funding(frame, f"{symbol} funding ({path})")

    def load(
        self, symbol: str, timeframe: str, start: int | None = None, end: int | None = None
    ) -> pd.DataFrame:
        """Candles with ``start <= open_time < end`` (either bound optional), sorted, validated."""
        path = self.ohlcv_path(symbol, timeframe)
        frame = normalise_ohlcv(self._read(path, f"{symbol} {timeframe} candles"), str(path))
        report = validate_ohlcv(
            frame, timeframe, f"stored {symbol} {timeframe} ({path})", now=self.clock.now()
        )
        if not report.ok:
            self.counters.count("validation_failures")
            raise DataError("stored file failed validation: " + report.summary())
        out = _slice(frame, "open_time", start, end)
        self.counters.count("loads")
        self.counters.count("candles_loaded", len(out))
        return out

    def load_funding(
        self, symbol: str, start: int | None = None, end: int | None = None
    ) -> pd.DataFrame:
        """Funding settlements with ``start <= funding_time < end``, sorted, validated."""
        path = self.funding_path(symbol)
        frame = normalise_funding(self._read(path, f"{symbol} funding"), str(path))
        report = validate_funding(frame, f"stored {symbol} funding ({path})")
        if not report.ok:
            self.counters.count("validation_failures")
            raise DataError("stored file failed validation: " + report.summary())
        out = _slice(frame, "funding_time", start, end)
        self.counters.count("funding_loaded", len(out))
        return out

    def has_funding(self, symbol: str) -> bool:
        return self.funding_path(symbol).is_file()

    def series(
        self, symbol: str, timeframe: str, start: int | None = None, end: int | None = None
    ) -> CandleSeries:
        """:meth:`load` as the feature pipeline's column record."""
        return CandleSeries.from_frame(symbol, timeframe, self.load(symbol, timeframe, start, end))

    def funding_series(self, symbol: str) -> FundingSeries | None:
        """All stored funding settlements of ``symbol``, or None when none are stored."""
        if not self.has_funding(symbol):
            return None
        return FundingSeries.from_frame(symbol, self.load_funding(symbol))

    def funding_rates(self, symbol: str) -> builtins.list[FundingRate]:
        """All stored funding settlements of ``symbol`` as records ([] when none are stored)."""
        if not self.has_funding(symbol):
            return []
        return funding_records(symbol, self.load_funding(symbol))

    def last_open_time(self, symbol: str, timeframe: str) -> int | None:
        path = self.ohlcv_path(symbol, timeframe)
        if not path.is_file():
            return None
        times = files.read_table(path, columns=["open_time"])["open_time"]
        return int(times.max()) if len(times) else None

    def last_funding_time(self, symbol: str) -> int | None:
        path = self.funding_path(symbol)
        if not path.is_file():
            return None
        times = files.read_table(path, columns=["funding_time"])["funding_time"]
        return int(times.max()) if len(times) else None

    def is_synthetic(self, symbol: str, timeframe: str) -> bool:
        path = self.ohlcv_path(symbol, timeframe)
        return bool(path.is_file() and files.read_metadata(path).get("synthetic", False))

    def symbols(self, timeframe: str) -> builtins.list[str]:
        suffix = f"-{timeframe}.parquet"
        folder = self.root / "ohlcv"
        if not folder.is_dir():
            return []
        return sorted(p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}"))

    # --- writing ----------------------------------------------------------------------------
    def _prepare(
        self, frame: pd.DataFrame, column: str, do_repair: bool
    ) -> tuple[pd.DataFrame, RepairLog | None]:
        if not do_repair:
            return frame, None
        fixed, log = repair(frame, column)
        self.counters.count("repairs")
        return fixed, log

    def _check_label(self, symbol: str, synthetic: bool, path: Path) -> None:
        if is_synthetic(symbol) != synthetic:
            raise DataError(
                f"{symbol}: synthetic={synthetic} but symbols {'must' if synthetic else 'must not'}"
                " start with 'SYN' so generated data can never pass for real"
            )
        if path.is_file() and bool(files.read_metadata(path).get("synthetic")) != synthetic:
            raise DataError(f"{path}: stored synthetic flag differs from synthetic={synthetic}")

    def _fail(self, report: ValidationReport) -> None:
        if not report.ok:
            self.counters.count("validation_failures")
            report.raise_for_errors()

    def append(
        self,
        symbol: str,
        timeframe: str,
        frame: pd.DataFrame,
        *,
        repair: bool = False,
        synthetic: bool = False,
        source: str = "",
    ) -> ValidationReport:
        """Add candles to a series (creating it); overlapping times must agree exactly."""
        return self.merge(
            symbol, timeframe, frame, repair=repair, synthetic=synthetic, source=source
        ).report

    def merge(
        self,
        symbol: str,
        timeframe: str,
        frame: pd.DataFrame,
        *,
        repair: bool = False,
        synthetic: bool = False,
        source: str = "",
        replace: bool = False,
    ) -> WriteResult:
        """Validate ``frame``, merge it with the stored series (or ``replace`` it), write."""
        path = self.ohlcv_path(symbol, timeframe)
        self._check_label(symbol, synthetic, path)
        subject = f"{symbol} {timeframe}" + (f" from {source}" if source else "")
        new, log = self._prepare(normalise_ohlcv(frame, subject), "open_time", repair)
        now = self.clock.now()
        old = (
            normalise_ohlcv(files.read_table(path), str(path))
            if path.is_file() and not replace
            else new.iloc[0:0]
        )
        # the new rows' volumes are judged against the series they join (a few rows alone
        # have no median to speak of), so that the error names the file's own rows
        volumes = np.concatenate([old["volume"].to_numpy(), new["volume"].to_numpy()])
        self._fail(validate_ohlcv(new, timeframe, subject, now=now, volumes=volumes))
        merged = _merge(old, new, "open_time", subject)
        report = validate_ohlcv(merged, timeframe, f"{symbol} {timeframe} after merge", now=now)
        self._fail(report)
        if len(merged) == len(old) and not replace:
            return WriteResult(report, len(old), len(merged), log)  # nothing new: file untouched
        meta = {"symbol": symbol, "timeframe": timeframe, "synthetic": synthetic}
        if source:
            meta["source"] = source
        files.write_parquet(path, merged.loc[:, list(OHLCV_COLUMNS)], meta)
        self._write_gaps(symbol, timeframe, report)
        self.counters.count("writes")
        self.counters.count("rows_written", len(merged) - len(old))
        return WriteResult(report, len(old), len(merged), log)

    def write(
        self,
        symbol: str,
        timeframe: str,
        frame: pd.DataFrame,
        *,
        repair: bool = False,
        synthetic: bool = False,
        source: str = "",
    ) -> ValidationReport:
        """Replace a series with ``frame`` (validated first; atomic)."""
        return self.merge(
            symbol,
            timeframe,
            frame,
            repair=repair,
            synthetic=synthetic,
            source=source,
            replace=True,
        ).report

    def _write_gaps(self, symbol: str, timeframe: str, report: ValidationReport) -> None:
        path = self.gaps_path(symbol, timeframe)
        if not report.gaps:
            path.unlink(missing_ok=True)
            return
        files.write_json(
            path,
            {
                "symbol": symbol,
                "timeframe": timeframe,
                "missing_candles": report.missing_candles,
                "note": "candles the source did not have; they are missing, not filled",
                "gaps": [
                    {
                        "first_missing": fmt(g.start),
                        "last_missing": fmt(g.end),
                        "first_missing_ms": g.start,
                        "last_missing_ms": g.end,
                        "missing": g.missing,
                    }
                    for g in report.gaps
                ],
            },
        )

    def merge_funding(
        self,
        symbol: str,
        frame: pd.DataFrame,
        *,
        repair: bool = False,
        source: str = "",
        replace: bool = False,
    ) -> WriteResult:
        path = self.funding_path(symbol)
        subject = f"{symbol} funding" + (f" from {source}" if source else "")
        new, log = self._prepare(normalise_funding(frame, subject), "funding_time", repair)
        self._fail(validate_funding(new, subject))
        old = (
            normalise_funding(files.read_table(path), str(path))
            if path.is_file() and not replace
            else new.iloc[0:0]
        )
        merged = _merge(old, new, "funding_time", subject)
        report = validate_funding(merged, f"{symbol} funding after merge")
        self._fail(report)
        if len(merged) == len(old) and not replace:
            return WriteResult(report, len(old), len(merged), log)
        meta = {"symbol": symbol, "kind": FUNDING, "synthetic": is_synthetic(symbol)}
        if source:
            meta["source"] = source
        files.write_parquet(path, merged.loc[:, list(FUNDING_COLUMNS)], meta)
        self.counters.count("writes")
        return WriteResult(report, len(old), len(merged), log)

    def append_funding(self, symbol: str, frame: pd.DataFrame) -> ValidationReport:
        return self.merge_funding(symbol, frame).report

    # --- listing ----------------------------------------------------------------------------
    def _entry(self, path: Path, symbol: str, timeframe: str, column: str) -> StoreEntry:
        times = files.read_table(path, columns=[column])[column].to_numpy(dtype=np.int64)
        meta = files.read_metadata(path)
        gaps = 0
        if timeframe != FUNDING and len(times):
            gaps = sum(g.missing for g in find_gaps(times, timeframe))
        return StoreEntry(
            symbol=symbol,
            timeframe=timeframe,
            rows=len(times),
            first=int(times.min()) if len(times) else None,
            last=int(times.max()) if len(times) else None,
            gaps=gaps,
            synthetic=bool(meta.get("synthetic", False)),
            path=path,
        )

    def list_funding(self) -> builtins.list[StoreEntry]:
        folder = self.root / "funding"
        if not folder.is_dir():
            return []
        return [
            self._entry(p, p.name.removesuffix("-funding.parquet"), FUNDING, "funding_time")
            for p in sorted(folder.glob("*-funding.parquet"))
        ]

    def list(self) -> builtins.list[StoreEntry]:
        """Every stored candle series, sorted by symbol then timeframe length."""
        folder = self.root / "ohlcv"
        if not folder.is_dir():
            return []
        out = []
        for p in folder.glob("*.parquet"):
            symbol, _, timeframe = p.name.removesuffix(".parquet").rpartition("-")
            out.append(self._entry(p, symbol, timeframe, "open_time"))
        return sorted(out, key=lambda e: (e.symbol, timeframe_ms(e.timeframe)))
