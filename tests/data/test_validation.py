from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantum_trader.data.validation import (
    CANDLE_CHECKS,
    Severity,
    repair,
    validate_funding,
    validate_ohlcv,
)
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.time import fmt
from tests.data.fakes import HOUR, candles


def test_clean_frame_has_no_problems() -> None:
    report = validate_ohlcv(candles(50), "1h", "X 1h")
    assert report.ok and not report.problems
    assert report.counts() == {"rows": 50, **dict.fromkeys(CANDLE_CHECKS, 0)}
    report.raise_for_errors()


@pytest.mark.parametrize(
    ("kind", "column", "value"),
    [
        ("nan", "close", np.nan),
        ("nan", "volume", np.inf),
        ("non_positive_price", "low", 0.0),
        ("negative_volume", "volume", -1.0),
        ("high_below_low", "high", 1.0),
        ("ohlc_inconsistent", "low", 1e9),
    ],
)
def test_each_value_problem_is_an_error_naming_the_row(
    kind: str, column: str, value: float
) -> None:
    frame = candles(10)
    frame.loc[4, column] = value
    report = validate_ohlcv(frame, "1h", "X 1h")
    assert report.count(kind) == 1
    assert not report.ok
    with pytest.raises(DataError) as err:
        report.raise_for_errors()
    assert kind in str(err.value)
    assert fmt(int(frame.open_time[4])) in str(err.value)


def test_gaps_are_warnings_with_their_span() -> None:
    frame = candles(20).drop(index=[5, 6, 7, 12]).reset_index(drop=True)
    report = validate_ohlcv(frame, "1h", "X 1h")
    assert report.ok  # gaps alone never block
    assert report.missing_candles == 4 and report.count("gaps") == 4
    assert [g.missing for g in report.gaps] == [3, 1]
    first = candles(20).open_time
    assert report.gaps[0].start == first[5] and report.gaps[0].end == first[7]
    assert all(p.severity is Severity.WARNING for p in report.warnings)


def test_duplicates_order_and_grid() -> None:
    frame = candles(10)
    dup = pd.concat([frame, frame.iloc[[3]]], ignore_index=True)
    assert validate_ohlcv(dup, "1h", "X").count("duplicate_rows") == 1
    conflict = frame.iloc[[3]].copy()
    conflict["close"] *= 1.001
    conflicting = pd.concat([frame, conflict], ignore_index=True)
    report = validate_ohlcv(conflicting, "1h", "X")
    assert report.count("conflicting_duplicates") == 1 and report.count("duplicate_rows") == 0
    swapped = frame.iloc[[0, 1, 3, 2, 4, 5]].reset_index(drop=True)
    assert validate_ohlcv(swapped, "1h", "X").count("out_of_order") == 1
    shifted = frame.copy()
    shifted.loc[9, "open_time"] += 60_000
    assert validate_ohlcv(shifted, "1h", "X").count("off_grid") == 1


def test_repair_drops_exact_copies_and_sorts_but_not_conflicts() -> None:
    frame = candles(10)
    messy = pd.concat([frame.iloc[[1, 0]], frame.iloc[2:], frame.iloc[[5]]], ignore_index=True)
    fixed, log = repair(messy, "open_time")
    assert log.dropped_duplicates == 1 and log.reordered_rows > 0
    pd.testing.assert_frame_equal(fixed, frame)
    conflict = frame.iloc[[5]].copy()
    conflict["high"] *= 1.01
    fixed, _ = repair(pd.concat([frame, conflict], ignore_index=True), "open_time")
    assert validate_ohlcv(fixed, "1h", "X").count("conflicting_duplicates") == 1


def test_funding_checks() -> None:
    frame = pd.DataFrame({"funding_time": [0, 8 * HOUR, 4 * HOUR], "rate": [1e-4, 0.2, np.nan]})
    report = validate_funding(frame, "F funding")
    assert report.count("rate_out_of_range") == 1
    assert report.count("nan") == 1
    assert report.count("out_of_order") == 1
    assert "gaps" not in report.counts()
