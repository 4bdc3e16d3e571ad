"""Test doubles for the market-data tests: a recorded-response exchange and frame builders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ccxt
import numpy as np
import pandas as pd

FIXTURE = Path(__file__).parent / "fixtures" / "binance_usdm_btcusdt.json"
HOUR = 3_600_000


def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


class RecordedExchange:
    """Serves recorded Binance pages the way the endpoint does: rows with time >= since, at
    most ``limit`` (capped at ``max_limit``). ``now`` is the exchange's clock; the recorded
    candle whose close is after ``now`` plays the still-open candle. ``fail_next`` transient
    errors are raised before answering, to exercise the retry."""

    def __init__(
        self,
        ohlcv: list[list[float]],
        funding: list[dict[str, Any]],
        now: int,
        *,
        fail_next: int = 0,
        error: type[Exception] = ccxt.NetworkError,
        max_limit: int = 1500,
        symbol: str = "BTC/USDT:USDT",
    ) -> None:
        self.ohlcv = ohlcv
        self.funding = funding
        self.now = now
        self.fail_next = fail_next
        self.error = error
        self.max_limit = max_limit
        self.symbol = symbol
        self.calls: list[tuple[str, int | None, int | None]] = []

    def _answer(self, kind: str, symbol: str | None, since: int | None, limit: int | None) -> None:
        self.calls.append((kind, since, limit))
        if symbol != self.symbol:
            raise ccxt.BadSymbol(f"binanceusdm does not have market symbol {symbol}")
        if self.fail_next > 0:
            self.fail_next -= 1
            raise self.error("binanceusdm GET https://fapi.binance.com/fapi/v1/klines timed out")

    def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[list[float]]:
        self._answer("ohlcv", symbol, since, limit)
        n = min(limit or 500, self.max_limit)
        rows = [r for r in self.ohlcv if since is None or r[0] >= since]
        return [list(r) for r in rows[:n]]

    def fetch_funding_rate_history(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        self._answer("funding", symbol, since, limit)
        n = min(limit or 100, self.max_limit)
        rows = [r for r in self.funding if since is None or r["timestamp"] >= since]
        return [dict(r) for r in rows[:n]]

    def milliseconds(self) -> int:
        return self.now


def candles(
    n: int, start: int = 1_704_067_200_000, step: int = HOUR, seed: int = 0
) -> pd.DataFrame:
    """``n`` valid candles on the grid (a random walk)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    return pd.DataFrame(
        {
            "open_time": start + step * np.arange(n, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) * 1.002,
            "low": np.minimum(open_, close) * 0.998,
            "close": close,
            "volume": rng.uniform(1, 10, n),
        }
    )
