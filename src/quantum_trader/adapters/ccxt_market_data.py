"""The one ccxt Binance USDT-M client: the downloader's, the live phase's and paper's candles.

Public endpoints only: no API key is used or needed for candles and funding history. ``enableRateLimit`` makes ccxt
space requests by the exchange's published weight; the downloader adds its own bounded retry on
``ccxt.NetworkError`` (timeouts, rate-limit answers, exchange unavailable).
"""

from __future__ import annotations

import ccxt

from quantum_trader.data.ports import ExchangeMarketData

#: errors worth retrying: transport failures and rate limiting, not bad requests
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ccxt.NetworkError,)


def binance_usdm_public(timeout_ms: int = 30_000) -> ExchangeMarketData:
    """A ccxt ``binanceusdm`` client for public market data (no credentials), rate-limited and
    with a request timeout, so that an unreachable exchange fails a call instead of hanging.
    The downloader's port is the wider of its two users' (the live candle source reads only
    ``fetch_ohlcv``)."""
    exchange: ExchangeMarketData = ccxt.binanceusdm(
        {"enableRateLimit": True, "timeout": timeout_ms}
    )
    return exchange
