"""Quality checks for candle and funding frames, and the one repair we allow.

Rule (see docs/data.md): every problem that makes a price or a time untrustworthy is an
**error** and blocks an import — duplicates, rows out of order, times off the timeframe grid,
NaN/inf, non-positive prices, high below low, high/low not containing open/close, negative
volume. Missing candles (**gaps**) are a **warning**: the exchange really did not publish them
(the shared 5m/15m files have one or two), so they are reported, recorded beside the data and
never filled with invented prices.

``repair`` only does what cannot change a price: it drops rows that are exact copies of another
row and puts rows in time order. Two rows with the same time but different values stay an error
— sorting cannot tell which one is true.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from quantum_trader.domain.errors import DataError
from quantum_trader.domain.time import fmt, timeframe_ms

MAX_EXAMPLES = 3
#: Binance caps funding far below this per settlement; the domain refuses larger values too.
MAX_ABS_FUNDING_RATE = 0.05


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


#: every problem kind, in report order, with its severity
CANDLE_CHECKS: dict[str, Severity] = {
    "duplicate_rows": Severity.ERROR,
    "conflicting_duplicates": Severity.ERROR,
    "out_of_order": Severity.ERROR,
    "off_grid": Severity.ERROR,
    "nan": Severity.ERROR,
    "non_positive_price": Severity.ERROR,
    "high_below_low": Severity.ERROR,
    "ohlc_inconsistent": Severity.ERROR,
    "negative_volume": Severity.ERROR,
    "closes_in_future": Severity.ERROR,
    "implausible_wick": Severity.ERROR,
    "implausible_volume": Severity.ERROR,
    "gaps": Severity.WARNING,
}
#: a wick is implausible when the high is more than this many times the body's top, or the low
#: less than the body's bottom divided by it. In the 28 shared symbols' 1h candles (2020-10 →
#: 2024-06) the largest such ratio is 1.87; a 1000x wick from a bad tick is refused.
WICK_LIMIT = 4.0
#: a volume is implausible when it is more than this many times the series' median volume
#: (real data: at most 274x, on COMPUSDT 1h; a 1e15 volume from a bad file is refused); checked
#: from VOLUME_MIN_ROWS candles on, where the median means something (a store merge checks the
#: whole merged series)
VOLUME_LIMIT = 10_000.0
VOLUME_MIN_ROWS = 100
FUNDING_CHECKS: dict[str, Severity] = {
    "duplicate_rows": Severity.ERROR,
    "conflicting_duplicates": Severity.ERROR,
    "out_of_order": Severity.ERROR,
    "nan": Severity.ERROR,
    "rate_out_of_range": Severity.ERROR,
}


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing candles: open times ``start`` … ``end`` (inclusive), ``missing`` candles."""

    start: int
    end: int
    missing: int

    def describe(self) -> str:
        if self.missing == 1:
            return f"{fmt(self.start)} (1 candle)"
        return f"{fmt(self.start)} … {fmt(self.end)} ({self.missing} candles)"


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str
    severity: Severity
    count: int
    examples: tuple[str, ...]

    def describe(self) -> str:
        shown = "; ".join(self.examples)
        more = " …" if self.count > len(self.examples) else ""
        return f"{self.kind}: {self.count} [{shown}{more}]"


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """What validation found in one series. ``subject`` names it (symbol, timeframe, file)."""

    subject: str
    timeframe: str
    rows: int
    first: int | None
    last: int | None
    problems: tuple[Problem, ...]
    gaps: tuple[Gap, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        """True when nothing blocks use of the data (warnings allowed)."""
        return not self.errors

    @property
    def missing_candles(self) -> int:
        return sum(g.missing for g in self.gaps)

    def count(self, kind: str) -> int:
        return sum(p.count for p in self.problems if p.kind == kind)

    def counts(self) -> dict[str, int]:
        """Rows and every check's count (0 where clean), for tables and evidence."""
        checks = FUNDING_CHECKS if self.timeframe == "funding" else CANDLE_CHECKS
        return {"rows": self.rows, **{kind: self.count(kind) for kind in checks}}

    def summary(self) -> str:
        head = f"{self.subject}: {self.rows:,} rows"
        if self.first is not None and self.last is not None:
            head += f" {fmt(self.first)} → {fmt(self.last)}"
        if not self.problems:
            return head + ", no problems"
        parts = [head]
        if self.errors:
            parts.append(
                f"{len(self.errors)} error kind(s): "
                + " | ".join(p.describe() for p in self.errors)
            )
        if self.warnings:
            parts.append("warnings: " + " | ".join(p.describe() for p in self.warnings))
        return "; ".join(parts)

    def raise_for_errors(self) -> None:
        if self.errors:
            raise DataError("invalid market data, nothing written: " + self.summary())


@dataclass(frozen=True, slots=True)
class RepairLog:
    dropped_duplicates: int
    reordered_rows: int

    @property
    def changed(self) -> bool:
        return bool(self.dropped_duplicates or self.reordered_rows)


def _row_text(t: np.ndarray, values: np.ndarray, names: tuple[str, ...], i: int) -> str:
    fields = " ".join(f"{n}={values[i, j]:.10g}" for j, n in enumerate(names))
    return f"{fmt(int(t[i]))} {fields}"


def _duplicates(
    t: np.ndarray, values: np.ndarray, names: tuple[str, ...]
) -> tuple[list[int], list[tuple[int, int]]]:
    """Rows repeating an earlier time: (exact copies, (conflicting row, earlier row))."""
    order = np.argsort(t, kind="stable")
    ts = t[order]
    same_time = np.flatnonzero(ts[1:] == ts[:-1]) + 1
    exact: list[int] = []
    conflicting: list[tuple[int, int]] = []
    for k in same_time:
        row, prev = int(order[k]), int(order[k - 1])
        a, b = values[row], values[prev]
        if bool(np.all((a == b) | (np.isnan(a) & np.isnan(b)))):
            exact.append(row)
        else:
            conflicting.append((row, prev))
    return sorted(exact), sorted(conflicting)


def _problem(
    kind: str, checks: dict[str, Severity], count: int, examples: list[str]
) -> Problem | None:
    if count == 0:
        return None
    return Problem(kind, checks[kind], count, tuple(examples[:MAX_EXAMPLES]))


def _common(
    t: np.ndarray, values: np.ndarray, names: tuple[str, ...], checks: dict[str, Severity]
) -> list[Problem | None]:
    exact, conflicting = _duplicates(t, values, names)
    back = np.flatnonzero(t[1:] < t[:-1]) + 1
    nan_rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
    return [
        _problem(
            "duplicate_rows",
            checks,
            len(exact),
            [_row_text(t, values, names, i) + f" (row {i}, exact copy)" for i in exact],
        ),
        _problem(
            "conflicting_duplicates",
            checks,
            len(conflicting),
            [
                f"{fmt(int(t[i]))} row {i} ({_row_text(t, values, names, i)}) vs row {j} "
                f"({_row_text(t, values, names, j)})"
                for i, j in conflicting
            ],
        ),
        _problem(
            "out_of_order",
            checks,
            len(back),
            [f"row {i} {fmt(int(t[i]))} comes after {fmt(int(t[i - 1]))}" for i in back],
        ),
        _problem(
            "nan",
            checks,
            len(nan_rows),
            [_row_text(t, values, names, int(i)) + f" (row {i})" for i in nan_rows],
        ),
    ]


def find_gaps(open_times: np.ndarray, timeframe: str) -> tuple[Gap, ...]:
    """Runs of missing candles between the first and last open time.

    >>> find_gaps(np.array([0, 3_600_000, 4 * 3_600_000]), "1h")
    (Gap(start=7200000, end=10800000, missing=2),)
    """
    step = timeframe_ms(timeframe)
    unique = np.unique(open_times)
    diffs = np.diff(unique)
    where = np.flatnonzero(diffs > step)
    return tuple(
        Gap(
            start=int(unique[i]) + step,
            end=int(unique[i + 1]) - step,
            missing=int(diffs[i] // step) - 1,
        )
        for i in where
        if diffs[i] // step > 1
    )


def _rows(frame: pd.DataFrame, names: tuple[str, ...]) -> np.ndarray:
    return frame.loc[:, list(names)].to_numpy(dtype=np.float64).reshape(len(frame), len(names))


def validate_ohlcv(
    frame: pd.DataFrame,
    timeframe: str,
    subject: str,
    *,
    now: int | None = None,
    volumes: np.ndarray | None = None,
) -> ValidationReport:
    """Check a candle frame (layout of :mod:`quantum_trader.data.frames`); never raises on bad data.

    With ``now`` (epoch ms, the wall clock's), a candle that closes after it is refused: it
    cannot have happened yet. Wicks and volumes far outside what real markets print are
    refused too (:data:`WICK_LIMIT`, :data:`VOLUME_LIMIT`); ``volumes`` is the series a volume
    is judged against (default: the frame's own), so that a few new rows are judged against
    the stored series they join and the error still names their own rows.

    >>> f = pd.DataFrame({"open_time": [0, 3_600_000], "open": [1.0, 1.0], "high": [2.0, 0.5],
    ...     "low": [0.5, 0.9], "close": [1.5, 1.0], "volume": [1.0, 1.0]})
    >>> r = validate_ohlcv(f, "1h", "X 1h")
    >>> r.ok, r.count("high_below_low"), r.count("ohlc_inconsistent")
    (False, 1, 1)
    """
    names = ("open", "high", "low", "close", "volume")
    t = frame["open_time"].to_numpy(dtype=np.int64)
    values = _rows(frame, names)
    o, h, lo, c, v = (values[:, j] for j in range(5))
    step = timeframe_ms(timeframe)
    checks = CANDLE_CHECKS
    problems = _common(t, values, names, checks)

    def rows_where(mask: np.ndarray) -> tuple[int, list[str]]:
        idx = np.flatnonzero(mask)
        return len(idx), [_row_text(t, values, names, int(i)) + f" (row {i})" for i in idx[:3]]

    with np.errstate(invalid="ignore"):
        prices = values[:, :4]
        masks = {
            "off_grid": t % step != 0,
            "non_positive_price": (prices <= 0).any(axis=1),
            "high_below_low": h < lo,
            "ohlc_inconsistent": (h < np.maximum(o, c)) | (lo > np.minimum(o, c)),
            "negative_volume": v < 0,
            "closes_in_future": t + step > now if now is not None else np.zeros(len(t), bool),
            "implausible_wick": (h > WICK_LIMIT * np.maximum(o, c))
            | (lo * WICK_LIMIT < np.minimum(o, c)),
            "implausible_volume": _volume_outliers(v, v if volumes is None else volumes),
        }
    for kind, mask in masks.items():
        count, examples = rows_where(mask)
        problems.append(_problem(kind, checks, count, examples))
    gaps = find_gaps(t, timeframe) if len(t) else ()
    missing = sum(g.missing for g in gaps)
    problems.append(_problem("gaps", checks, missing, [g.describe() for g in gaps]))
    order = [k for k in checks]
    found = sorted((p for p in problems if p is not None), key=lambda p: order.index(p.kind))
    return ValidationReport(
        subject=subject,
        timeframe=timeframe,
        rows=len(frame),
        first=int(t.min()) if len(t) else None,
        last=int(t.max()) if len(t) else None,
        problems=tuple(found),
        gaps=gaps,
    )


def _volume_outliers(v: np.ndarray, reference: np.ndarray) -> np.ndarray:
    positive = reference[reference > 0]
    if len(reference) < VOLUME_MIN_ROWS or not len(positive):
        return np.zeros(len(v), bool)
    return np.asarray(v > VOLUME_LIMIT * float(np.median(positive)))


def validate_funding(frame: pd.DataFrame, subject: str) -> ValidationReport:
    """Check a funding frame (``funding_time``, ``rate``). Funding times carry exchange jitter
    (``16:00:00.001``) and the interval differs between symbols, so there is no grid or gap check.
    """
    names = ("rate",)
    t = frame["funding_time"].to_numpy(dtype=np.int64)
    values = _rows(frame, names)
    checks = FUNDING_CHECKS
    problems = _common(t, values, names, checks)
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(np.abs(values[:, 0]) >= MAX_ABS_FUNDING_RATE)
    problems.append(
        _problem(
            "rate_out_of_range",
            checks,
            len(bad),
            [_row_text(t, values, names, int(i)) + f" (row {i})" for i in bad],
        )
    )
    order = list(checks)
    found = sorted((p for p in problems if p is not None), key=lambda p: order.index(p.kind))
    return ValidationReport(
        subject=subject,
        timeframe="funding",
        rows=len(frame),
        first=int(t.min()) if len(t) else None,
        last=int(t.max()) if len(t) else None,
        problems=tuple(found),
        gaps=(),
    )


def repair(frame: pd.DataFrame, time_column: str) -> tuple[pd.DataFrame, RepairLog]:
    """Drop exact duplicate rows (keeping the first) and sort by time; nothing else changes.

    >>> f = pd.DataFrame({"t": [2, 1, 1, 1], "x": [5.0, 4.0, 4.0, 9.0]})
    >>> fixed, log = repair(f, "t")
    >>> fixed["t"].tolist(), fixed["x"].tolist(), log
    ([1, 1, 2], [4.0, 9.0, 5.0], RepairLog(dropped_duplicates=1, reordered_rows=3))
    """
    deduped = frame.drop_duplicates(keep="first")
    dropped = len(frame) - len(deduped)
    times = deduped[time_column].to_numpy()
    order = np.argsort(times, kind="stable")
    moved = int((order != np.arange(len(order))).sum())
    fixed = deduped.iloc[order].reset_index(drop=True)
    return fixed, RepairLog(dropped_duplicates=dropped, reordered_rows=moved)
