"""Downloading closed candles and funding rates from an exchange into the store.

The exchange is a port (:class:`ExchangeMarketData`, which a ccxt exchange object satisfies), so
tests serve recorded pages from a fake and nothing here opens a socket. Behaviour:

* **paginated**: ``fetch_ohlcv(symbol, timeframe, since=cursor, limit=page_limit)`` until the
  next candle would not be closed yet (or the exchange returns nothing new);
* **resumable**: starts at the candle after the last stored one; ``since`` only matters for a
  series the store does not have yet. Each page is appended (validated, atomic) as it arrives,
  so an interrupted download keeps everything up to its last page;
* **closed candles only**: a candle whose close (open + timeframe) is after now — the clock's, or
  the exchange's own ``milliseconds()`` when no clock is given — is dropped, never stored;
* **bounded retry**: errors of the ``transient`` types (for ccxt: ``ccxt.NetworkError``, which
  covers timeouts and rate limiting) are retried up to ``max_retries`` times with exponential
  backoff; anything else, or the last failure, surfaces as :class:`DataError`. Rate limiting
  between requests is ccxt's own ``enableRateLimit``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import numpy as np
import pandas as pd

from quantum_trader.clock import Clock
from quantum_trader.data.evidence import Counters
from quantum_trader.data.frames import ohlcv_from_rows
from quantum_trader.data.ports import CandleSink, EvidenceCounter, ExchangeMarketData
from quantum_trader.data.symbols import to_ccxt_perp
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.time import fmt, timeframe_ms

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DownloadConfig:
    page_limit: int = 1000  # Binance USDT-M allows 1500 klines, but 1000 costs half the weight
    funding_page_limit: int = 1000
    max_retries: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_pages: int = 100_000  # guard against an exchange that never advances

    def __post_init__(self) -> None:
        if self.page_limit < 1 or self.funding_page_limit < 1:
            raise ValueError(f"page limits must be >= 1, got {self}")
        if self.max_retries < 0 or self.backoff_s < 0:
            raise ValueError(f"max_retries and backoff_s must be >= 0, got {self}")


@dataclass(frozen=True, slots=True)
class DownloadResult:
    symbol: str
    kind: str  # a timeframe, or "funding"
    resumed_from: int | None  # last stored time before the download, None for a new series
    pages: int
    rows_added: int
    dropped_open: int  # still-open candles that came back and were not stored
    first_added: int | None
    last_added: int | None


class MarketDataDownloader:
    """Fetches pages from ``exchange`` and appends closed data to ``sink`` (see module doc)."""

    def __init__(
        self,
        exchange: ExchangeMarketData,
        sink: CandleSink,
        *,
        clock: Clock | None = None,
        config: DownloadConfig | None = None,
        transient: tuple[type[BaseException], ...] = (),
        sleep: Callable[[float], None] = time.sleep,
        counters: EvidenceCounter | None = None,
        exchange_symbol: Callable[[str], str] = to_ccxt_perp,
    ) -> None:
        self._exchange = exchange
        self._sink = sink
        self._clock = clock
        self._config = config or DownloadConfig()
        self._transient = transient
        self._sleep = sleep
        self.counters = Counters(counters)
        self._exchange_symbol = exchange_symbol

    def now(self) -> int:
        """The clock's time, else the exchange's (what "closed" is judged against)."""
        return self._now()

    def _now(self) -> int:
        return self._clock.now() if self._clock is not None else int(self._exchange.milliseconds())

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        cfg = self._config
        for attempt in range(cfg.max_retries + 1):
            try:
                return fn()
            except self._transient as exc:
                if attempt == cfg.max_retries:
                    raise DataError(
                        f"{what}: failed after {attempt + 1} attempts: {type(exc).__name__}: {exc}"
                    ) from exc
                self.counters.count("download_retries")
                self._sleep(min(cfg.max_backoff_s, cfg.backoff_s * 2**attempt))
        raise AssertionError("unreachable: the loop returns or raises")

    def _start(self, last: int | None, since: int | None, what: str, step: int) -> int:
        if last is not None:
            return last + step
        if since is None:
            raise DataError(f"{what}: nothing stored yet, so a start time (since) is needed")
        return since

    def download_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        *,
        since: int | None = None,
        until: int | None = None,
        on_page: Callable[[int, int], None] | None = None,
    ) -> DownloadResult:
        """Closed candles from the last stored one (or ``since``) up to now (or ``until``,
        exclusive open time). ``on_page(rows_added_so_far, cursor)`` reports progress."""
        step = timeframe_ms(timeframe)
        what = f"{symbol} {timeframe} download"
        last = self._sink.last_open_time(symbol, timeframe)
        cursor = self._start(last, since, what, step)
        cursor += -cursor % step  # first candle on the grid at or after the start
        now = self._now()
        pages = added = dropped = 0
        first: int | None = None
        market = self._exchange_symbol(symbol)
        while cursor + step <= now and (until is None or cursor < until):
            if pages >= self._config.max_pages:
                raise DataError(f"{what}: stopped after {pages} pages at {fmt(cursor)}")
            since_ms = cursor
            rows = self._call(
                f"{what} page at {fmt(since_ms)}",
                partial(
                    self._exchange.fetch_ohlcv,
                    market,
                    timeframe,
                    since=since_ms,
                    limit=self._config.page_limit,
                ),
            )
            pages += 1
            self.counters.count("download_requests")
            frame = ohlcv_from_rows(rows, f"{what} page at {fmt(since_ms)}")
            frame = frame[frame["open_time"].to_numpy() >= cursor]
            still_open = frame["open_time"].to_numpy() + step > now
            dropped += int(still_open.sum())
            frame = frame[~still_open]
            if until is not None:
                frame = frame[frame["open_time"].to_numpy() < until]
            if frame.empty:
                break
            self._sink.append(symbol, timeframe, frame.reset_index(drop=True))
            added += len(frame)
            self.counters.count("candles_downloaded", len(frame))
            first = int(frame["open_time"].iloc[0]) if first is None else first
            cursor = int(frame["open_time"].max()) + step
            if on_page is not None:
                on_page(added, cursor)
        return DownloadResult(
            symbol, timeframe, last, pages, added, dropped, first, cursor - step if added else None
        )

    def download_funding(
        self,
        symbol: str,
        *,
        since: int | None = None,
        on_page: Callable[[int, int], None] | None = None,
    ) -> DownloadResult:
        """Funding settlements after the last stored one (or from ``since``) up to now."""
        what = f"{symbol} funding download"
        last = self._sink.last_funding_time(symbol)
        cursor = self._start(last, since, what, 1)
        now = self._now()
        pages = added = 0
        first: int | None = None
        market = self._exchange_symbol(symbol)
        while cursor <= now:
            if pages >= self._config.max_pages:
                raise DataError(f"{what}: stopped after {pages} pages at {fmt(cursor)}")
            since_ms = cursor
            rows = self._call(
                f"{what} page at {fmt(since_ms)}",
                partial(
                    self._exchange.fetch_funding_rate_history,
                    market,
                    since=since_ms,
                    limit=self._config.funding_page_limit,
                ),
            )
            pages += 1
            self.counters.count("download_requests")
            frame = funding_from_rows(rows, f"{what} page at {fmt(since_ms)}")
            times = frame["funding_time"].to_numpy()
            frame = frame[(times >= cursor) & (times <= now)]
            if frame.empty:
                break
            self._sink.append_funding(symbol, frame.reset_index(drop=True))
            added += len(frame)
            self.counters.count("funding_downloaded", len(frame))
            first = int(frame["funding_time"].iloc[0]) if first is None else first
            cursor = int(frame["funding_time"].max()) + 1
            if on_page is not None:
                on_page(added, cursor)
        return DownloadResult(
            symbol, "funding", last, pages, added, 0, first, cursor - 1 if added else None
        )


def funding_from_rows(rows: Sequence[dict[str, object]], where: str) -> pd.DataFrame:
    """Funding frame from ccxt funding-history dicts (``timestamp``, ``fundingRate``)."""
    times: list[int] = []
    rates: list[float] = []
    for i, row in enumerate(rows):
        ts, rate = row.get("timestamp"), row.get("fundingRate")
        if not isinstance(ts, int | float) or not isinstance(rate, int | float):
            raise DataError(f"{where}: entry {i} lacks a numeric timestamp/fundingRate: {row!r}")
        times.append(int(ts))
        rates.append(float(rate))
    return pd.DataFrame(
        {"funding_time": np.array(times, dtype=np.int64), "rate": np.array(rates, dtype=np.float64)}
    )
