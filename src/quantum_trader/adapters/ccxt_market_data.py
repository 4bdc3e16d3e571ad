"""The one ccxt Binance USDT-M client: the downloader's, the live phase's and paper's candles.

Public endpoints only: no API key is used or needed for candles and funding history. ``enableRateLimit`` makes ccxt
space requests by the exchange's published weight; the downloader adds its own bounded retry on
``ccxt.NetworkError`` (timeouts, rate-limit answers, exchange unavailable).
"""

from __future__ import annotations

from typing import Any, Protocol

import ccxt

#: errors worth retrying: transport failures and rate limiting, not bad requests
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ccxt.NetworkError,)


class BinanceUsdmPublic(Protocol):
    """The public calls made on the client; it fits the downloader's ``ExchangeMarketData`` and
    the live candle source's ``OhlcvClient`` alike."""

    def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] = ...,
    ) -> list[list[float]]: ...

    def fetch_funding_rate_history(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] = ...,
    ) -> list[dict[str, Any]]: ...

    def milliseconds(self) -> int: ...


def binance_usdm_public(timeout_ms: int = 30_000) -> BinanceUsdmPublic:
    """A ccxt ``binanceusdm`` client for public market data (no credentials), rate-limited and
    with a request timeout, so that an unreachable exchange fails a call instead of hanging."""
    exchange: BinanceUsdmPublic = ccxt.binanceusdm({"enableRateLimit": True, "timeout": timeout_ms})
    return exchange
