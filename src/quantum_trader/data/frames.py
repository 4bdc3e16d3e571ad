"""Column layout of candle and funding frames, and conversion of outside layouts into it.

Inside Quantum Trader a candle frame has exactly the columns ``open_time`` (int64 epoch ms UTC,
the candle's *open*), ``open``, ``high``, ``low``, ``close``, ``volume`` (float64); a funding
frame has ``funding_time`` (int64 ms) and ``rate`` (float64, fraction). Files from elsewhere
(the shared data's ``timestamp`` column, CSV exports, ccxt lists) are converted here, once,
without sorting or dropping anything: putting rows in order is a repair, decided by validation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from quantum_trader.domain.errors import DataError
from quantum_trader.domain.market import FundingRate

OHLCV_COLUMNS: tuple[str, ...] = ("open_time", "open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
FUNDING_COLUMNS: tuple[str, ...] = ("funding_time", "rate")

#: accepted names for the time column, in order of preference
_TIME_NAMES = ("open_time", "timestamp", "time", "date", "datetime")
_FUNDING_TIME_NAMES = ("funding_time", "fundingTime", "timestamp", "time", "date")
_RATE_NAMES = ("rate", "funding_rate", "fundingRate")

#: epoch ms below this (1973-03-03) are taken to be seconds, not ms, and refused
_MIN_PLAUSIBLE_MS = 100_000_000_000
#: epoch ms above this (year 5138) are taken to be microseconds, and refused
_MAX_PLAUSIBLE_MS = 100_000_000_000_000


def empty_ohlcv() -> pd.DataFrame:
    """A candle frame with no rows and the right dtypes."""
    frame = pd.DataFrame({c: np.array([], dtype=np.float64) for c in OHLCV_COLUMNS})
    frame["open_time"] = frame["open_time"].astype(np.int64)
    return frame


def to_epoch_ms(values: pd.Series, where: str) -> np.ndarray:
    """Epoch milliseconds (int64) of a time column: datetimes (naive = UTC), ms integers or text.

    >>> to_epoch_ms(pd.Series(pd.to_datetime(["2020-10-23 08:00"], utc=True)), "x").tolist()
    [1603440000000]
    >>> to_epoch_ms(pd.Series([1603440000000]), "x").tolist()
    [1603440000000]
    """
    if pd.api.types.is_numeric_dtype(values.dtype):
        if values.isna().any():
            raise DataError(f"{where}: {int(values.isna().sum())} empty time value(s)")
        ms = values.to_numpy().astype(np.int64)
        if len(ms) and (ms != values.to_numpy()).any():
            raise DataError(f"{where}: time values must be whole milliseconds")
        if len(ms) and int(ms.min()) < _MIN_PLAUSIBLE_MS:
            raise DataError(
                f"{where}: time value {int(ms.min())} looks like seconds, not epoch milliseconds"
            )
        if len(ms) and int(ms.max()) > _MAX_PLAUSIBLE_MS:
            raise DataError(
                f"{where}: time value {int(ms.max())} looks like microseconds, not epoch milliseconds"
            )
        return ms
    try:
        stamps = pd.to_datetime(values, utc=True)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{where}: cannot read times ({exc})") from None
    if stamps.isna().any():
        first = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise DataError(f"{where}: unreadable or empty time at row {first}: {values.iloc[first]!r}")
    return stamps.astype("datetime64[ms, UTC]").astype(np.int64).to_numpy()


def _pick(frame: pd.DataFrame, names: Sequence[str], what: str, where: str) -> str:
    lowered = {str(c).lower(): str(c) for c in frame.columns}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    raise DataError(
        f"{where}: no {what} column (looked for {', '.join(names)}; found {list(frame.columns)})"
    )


def _floats(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    try:
        return pd.to_numeric(frame[column], errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{where}: column {column!r} is not numeric ({exc})") from None


def normalise_ohlcv(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """The candle layout of ``frame``; rows keep their order and values. ``where`` names the source.

    >>> raw = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-01"], utc=True),
    ...     "open": [1], "high": [2], "low": [0.5], "close": [1.5], "volume": [10]})
    >>> normalise_ohlcv(raw, "example").dtypes.astype(str).tolist()
    ['int64', 'float64', 'float64', 'float64', 'float64', 'float64']
    """
    time_col = _pick(frame, _TIME_NAMES, "time", where)
    out = {"open_time": to_epoch_ms(frame[time_col], where)}
    for name in OHLCV_COLUMNS[1:]:
        out[name] = _floats(frame, _pick(frame, (name,), name, where), where)
    return pd.DataFrame(out, columns=list(OHLCV_COLUMNS))


def normalise_funding(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """The funding layout (``funding_time``, ``rate``) of ``frame``."""
    time_col = _pick(frame, _FUNDING_TIME_NAMES, "funding time", where)
    rate_col = _pick(frame, _RATE_NAMES, "funding rate", where)
    return pd.DataFrame(
        {
            "funding_time": to_epoch_ms(frame[time_col], where),
            "rate": _floats(frame, rate_col, where),
        }
    )


def ohlcv_from_rows(rows: Sequence[Sequence[float]], where: str) -> pd.DataFrame:
    """Candle frame from exchange rows ``[ts, open, high, low, close, volume]`` (ccxt's shape)."""
    if not rows:
        return empty_ohlcv()
    bad = [i for i, row in enumerate(rows) if len(row) < 6]
    if bad:
        raise DataError(f"{where}: row {bad[0]} has {len(rows[bad[0]])} fields, expected 6")
    arr = np.array([[np.nan if v is None else v for v in row[:6]] for row in rows], dtype=object)
    times = pd.Series(arr[:, 0].astype(np.float64))
    frame = pd.DataFrame({"open_time": to_epoch_ms(times, where)})
    for j, name in enumerate(OHLCV_COLUMNS[1:], start=1):
        frame[name] = arr[:, j].astype(np.float64)
    return frame


def funding_records(symbol: str, frame: pd.DataFrame) -> list[FundingRate]:
    """A normalised funding frame (``funding_time``, ``rate``) as domain records."""
    return [
        FundingRate(symbol, int(t), float(r))
        for t, r in zip(frame["funding_time"].tolist(), frame["rate"].tolist(), strict=True)
    ]
