"""Ports of the market-data module: what it needs from the outside, as Protocols.

The Parquet store (:mod:`quantum_trader.adapters.candle_store`) is a ``CandleLoader`` and a
``CandleSink``; a ccxt exchange object is an ``ExchangeMarketData``; a status
``ModuleHandle`` is an ``EvidenceCounter``. Tests pass small fakes instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd

from quantum_trader.data.validation import ValidationReport


class EvidenceCounter(Protocol):
    """Where evidence counters go (``quantum_trader.status.ModuleHandle`` fits)."""

    def count(self, counter: str, n: int = 1) -> None: ...


class CandleLoader(Protocol):
    def load(
        self, symbol: str, timeframe: str, start: int | None = None, end: int | None = None
    ) -> pd.DataFrame: ...


class CandleSink(Protocol):
    """What the downloader writes to: the last stored times and an append that validates."""

    def last_open_time(self, symbol: str, timeframe: str) -> int | None: ...

    def append(self, symbol: str, timeframe: str, frame: pd.DataFrame) -> ValidationReport: ...

    def last_funding_time(self, symbol: str) -> int | None: ...

    def append_funding(self, symbol: str, frame: pd.DataFrame) -> ValidationReport: ...


class ExchangeMarketData(Protocol):
    """The slice of a ccxt exchange the downloader uses (public endpoints, no key)."""

    def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] = ...,
    ) -> Sequence[Sequence[float]]: ...

    def fetch_funding_rate_history(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] = ...,
    ) -> Sequence[dict[str, Any]]: ...

    def milliseconds(self) -> int: ...
