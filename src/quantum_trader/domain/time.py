"""Timestamps in the domain are integer milliseconds since the Unix epoch, UTC.

Integers keep hot loops cheap and comparisons exact; these helpers make them readable.
"""

from __future__ import annotations

from datetime import UTC, datetime

MS_PER_SECOND = 1_000
MS_PER_MINUTE = 60 * MS_PER_SECOND
MS_PER_HOUR = 60 * MS_PER_MINUTE
MS_PER_DAY = 24 * MS_PER_HOUR

_TIMEFRAME_MS = {
    "1m": MS_PER_MINUTE,
    "3m": 3 * MS_PER_MINUTE,
    "5m": 5 * MS_PER_MINUTE,
    "15m": 15 * MS_PER_MINUTE,
    "30m": 30 * MS_PER_MINUTE,
    "1h": MS_PER_HOUR,
    "2h": 2 * MS_PER_HOUR,
    "4h": 4 * MS_PER_HOUR,
    "8h": 8 * MS_PER_HOUR,
    "12h": 12 * MS_PER_HOUR,
    "1d": MS_PER_DAY,
}
#: the timeframes :func:`timeframe_ms` knows
TIMEFRAMES = frozenset(_TIMEFRAME_MS)


def timeframe_ms(timeframe: str) -> int:
    """Length of one candle of ``timeframe`` in milliseconds.

    >>> timeframe_ms("15m")
    900000
    """
    try:
        return _TIMEFRAME_MS[timeframe]
    except KeyError:
        known = ", ".join(_TIMEFRAME_MS)
        raise ValueError(f"unknown timeframe {timeframe!r}; known: {known}") from None


def to_datetime(ts_ms: int) -> datetime:
    """UTC datetime of an epoch-millisecond timestamp."""
    return datetime.fromtimestamp(ts_ms / MS_PER_SECOND, tz=UTC)


def from_datetime(dt: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive datetimes are refused)."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: give a timezone (UTC)")
    return round(dt.timestamp() * MS_PER_SECOND)


def fmt(ts_ms: int) -> str:
    """ISO-8601 text of a timestamp, for messages.

    >>> fmt(0)
    '1970-01-01T00:00:00Z'
    """
    dt = to_datetime(ts_ms)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if ts_ms % MS_PER_SECOND:
        text += f".{ts_ms % MS_PER_SECOND:03d}"
    return text + "Z"
