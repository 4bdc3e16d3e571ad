"""The downloader against recorded Binance USDT-M responses served by a fake exchange."""

from __future__ import annotations

from pathlib import Path

import ccxt
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.adapters.ccxt_market_data import TRANSIENT_ERRORS, binance_usdm_public
from quantum_trader.clock import SimulatedClock
from quantum_trader.data.download import DownloadConfig, MarketDataDownloader
from quantum_trader.data.frames import ohlcv_from_rows
from quantum_trader.domain.errors import DataError
from tests.data.fakes import HOUR, RecordedExchange, recorded

DATA = recorded()
ROWS: list[list[float]] = DATA["ohlcv"]
FUNDING = DATA["funding"]
FIRST = int(ROWS[0][0])
LAST = int(ROWS[-1][0])
# the exchange's now is half way through the last recorded candle: that one is still open
NOW = LAST + HOUR // 2


def make(
    tmp_path: Path,
    exchange: RecordedExchange,
    *,
    clock: SimulatedClock | None = None,
    page: int = 25,
    retries: int = 3,
) -> tuple[MarketDataDownloader, CandleStore, list[float]]:
    store = CandleStore(tmp_path)
    sleeps: list[float] = []
    downloader = MarketDataDownloader(
        exchange,
        store,
        clock=clock,
        config=DownloadConfig(page_limit=page, funding_page_limit=5, max_retries=retries),
        transient=TRANSIENT_ERRORS,
        sleep=sleeps.append,
    )
    return downloader, store, sleeps


def test_paginates_and_drops_the_still_open_candle(tmp_path: Path) -> None:
    exchange = RecordedExchange(ROWS, FUNDING, NOW)
    downloader, store, _ = make(tmp_path, exchange)
    result = downloader.download_ohlcv("BTCUSDT", "1h", since=FIRST)
    # 60 recorded candles, 25 per page: pages at rows 0, 25, 50; the last row is still open
    assert [c[1] for c in exchange.calls] == [FIRST, FIRST + 25 * HOUR, FIRST + 50 * HOUR]
    assert all(c[2] == 25 for c in exchange.calls)
    assert result.pages == 3 and result.rows_added == 59 and result.dropped_open == 1
    assert (result.first_added, result.last_added) == (FIRST, LAST - HOUR)
    loaded = store.load("BTCUSDT", "1h")
    expected = ohlcv_from_rows(ROWS[:-1], "recorded")
    assert loaded.equals(expected)
    assert downloader.counters.values["candles_downloaded"] == 59


def test_resumes_after_the_last_stored_candle(tmp_path: Path) -> None:
    exchange = RecordedExchange(ROWS, FUNDING, NOW)
    downloader, store, _ = make(tmp_path, exchange)
    store.write("BTCUSDT", "1h", ohlcv_from_rows(ROWS[:30], "first half"))
    result = downloader.download_ohlcv("BTCUSDT", "1h", since=FIRST)  # since is ignored now
    assert result.resumed_from == int(ROWS[29][0])
    assert exchange.calls[0][1] == int(ROWS[30][0])
    assert result.rows_added == 29
    assert len(store.load("BTCUSDT", "1h")) == 59
    exchange.calls.clear()
    again = downloader.download_ohlcv("BTCUSDT", "1h")
    assert again.rows_added == 0 and exchange.calls == []  # next candle not closed: no request


def test_the_clock_decides_what_is_closed_when_given(tmp_path: Path) -> None:
    exchange = RecordedExchange(ROWS, FUNDING, NOW)
    clock = SimulatedClock(FIRST + 10 * HOUR)  # e.g. a replay at an earlier time
    downloader, store, _ = make(tmp_path, exchange, clock=clock)
    result = downloader.download_ohlcv("BTCUSDT", "1h", since=FIRST)
    assert result.rows_added == 10 and result.dropped_open == 15
    assert store.last_open_time("BTCUSDT", "1h") == FIRST + 9 * HOUR


def test_retries_a_transient_network_error_with_backoff(tmp_path: Path) -> None:
    exchange = RecordedExchange(ROWS, FUNDING, NOW, fail_next=2)
    downloader, _, sleeps = make(tmp_path, exchange)
    result = downloader.download_ohlcv("BTCUSDT", "1h", since=FIRST)
    assert result.rows_added == 59
    assert sleeps == [1.0, 2.0]
    assert downloader.counters.values["download_retries"] == 2
    assert [c[1] for c in exchange.calls[:3]] == [FIRST, FIRST, FIRST]


def test_gives_up_after_bounded_retries_keeping_pages_already_stored(tmp_path: Path) -> None:
    exchange = RecordedExchange(ROWS, FUNDING, NOW)
    downloader, store, sleeps = make(tmp_path, exchange, retries=2)
    downloader.download_ohlcv("BTCUSDT", "1h", since=FIRST, until=FIRST + 25 * HOUR)
    exchange.fail_next = 10
    with pytest.raises(DataError, match="failed after 3 attempts: NetworkError"):
        downloader.download_ohlcv("BTCUSDT", "1h")
    assert sleeps == [1.0, 2.0]
    assert len(store.load("BTCUSDT", "1h")) == 25
    exchange.fail_next = 0
    assert downloader.download_ohlcv("BTCUSDT", "1h").rows_added == 34  # resumes cleanly


def test_non_transient_errors_are_not_retried(tmp_path: Path) -> None:
    exchange = RecordedExchange(ROWS, FUNDING, NOW, fail_next=1, error=ccxt.BadRequest)
    downloader, _, sleeps = make(tmp_path, exchange)
    with pytest.raises(ccxt.BadRequest):
        downloader.download_ohlcv("BTCUSDT", "1h", since=FIRST)
    assert sleeps == [] and len(exchange.calls) == 1


def test_a_new_series_needs_a_start(tmp_path: Path) -> None:
    downloader, _, _ = make(tmp_path, RecordedExchange(ROWS, FUNDING, NOW))
    with pytest.raises(DataError, match="since"):
        downloader.download_ohlcv("BTCUSDT", "1h")


def test_bad_exchange_rows_are_refused_by_validation(tmp_path: Path) -> None:
    broken = [list(r) for r in ROWS]
    broken[3][2] = broken[3][3] / 2  # high below low
    downloader, store, _ = make(tmp_path, RecordedExchange(broken, FUNDING, NOW))
    with pytest.raises(DataError, match="high_below_low: 1"):
        downloader.download_ohlcv("BTCUSDT", "1h", since=FIRST)
    assert store.list() == []


def test_funding_history_paginates_and_resumes(tmp_path: Path) -> None:
    exchange = RecordedExchange(ROWS, FUNDING, NOW)
    downloader, store, _ = make(tmp_path, exchange)
    first = int(FUNDING[0]["timestamp"])
    result = downloader.download_funding("BTCUSDT", since=first)
    assert result.rows_added == len(FUNDING) == 12
    # pages of 5: 5 + 5 + 2, then an empty page ends it; each page starts after the last time
    stamps = [int(f["timestamp"]) for f in FUNDING]
    assert [c[1] for c in exchange.calls] == [first, stamps[4] + 1, stamps[9] + 1, stamps[11] + 1]
    loaded = store.load_funding("BTCUSDT")
    assert loaded.rate.tolist() == [f["fundingRate"] for f in FUNDING]
    exchange.calls.clear()
    assert downloader.download_funding("BTCUSDT").rows_added == 0
    assert exchange.calls[0][1] == int(FUNDING[-1]["timestamp"]) + 1


def test_the_real_client_is_public_rate_limited_and_times_out() -> None:
    exchange = binance_usdm_public()  # builds the client; no request is made
    assert exchange.id == "binanceusdm"  # type: ignore[attr-defined]
    assert exchange.enableRateLimit is True  # type: ignore[attr-defined]
    assert exchange.timeout == 30_000  # type: ignore[attr-defined]
    assert not exchange.apiKey  # type: ignore[attr-defined]
    assert issubclass(ccxt.RateLimitExceeded, TRANSIENT_ERRORS)
    assert issubclass(ccxt.RequestTimeout, TRANSIENT_ERRORS)
