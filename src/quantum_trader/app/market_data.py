"""Market data for the CLI commands (``backtest``, ``paper``, ``train``, ``evaluate``).

One path with the main job: candles are read from the local candle store, which validates
every load and counts its evidence. A data folder (``--data-dir`` or ``QT_DATA_DIR``, laid out
like the shared data: ``ohlcv/SYMBOL-TF.parquet``, ``funding/SYMBOL-funding.parquet``) feeds
the store: the first time a command reads a series, the folder's file for it is merged in
(validated, its gaps written beside it; nothing written when the store already holds those
rows, and rows that contradict stored ones stop the command).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from quantum_trader.adapters.candle_store import CandleStore, import_file
from quantum_trader.config.settings import Settings
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.market import FundingRate
from quantum_trader.features.series import CandleSeries, FundingSeries

FUNDING = "funding"


class MarketData:
    """Reads of one timeframe from ``store``, each series fed once from ``folder`` if it has it.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     MarketData(CandleStore(Path(tmp)), "1h").funding_rates("BTCUSDT")
    []
    """

    def __init__(self, store: CandleStore, timeframe: str, folder: Path | None = None) -> None:
        self.store = store
        self.timeframe = timeframe
        self.folder = folder
        self._fed: set[tuple[str, str]] = set()

    def _feed(self, symbol: str, timeframe: str) -> None:
        if self.folder is None or (symbol, timeframe) in self._fed:
            return
        self._fed.add((symbol, timeframe))
        kind = "funding" if timeframe == FUNDING else "ohlcv"
        path = self.folder / kind / f"{symbol}-{timeframe}.parquet"
        if path.is_file():
            import_file(self.store, path, symbol=symbol, timeframe=timeframe)

    def candles(
        self, symbol: str, start: int | None = None, end: int | None = None
    ) -> pd.DataFrame:
        """Candles with ``start <= open_time < end``; DataError when there are none."""
        self._feed(symbol, self.timeframe)
        frame = self.store.load(symbol, self.timeframe, start, end)
        if frame.empty:
            where = f"the store at {self.store.root}"
            raise DataError(
                f"no {symbol} {self.timeframe} candles in the requested range ({where})"
            )
        return frame

    def series(self, symbol: str) -> CandleSeries:
        """All stored candles of ``symbol`` as the feature pipeline's record."""
        return CandleSeries.from_frame(symbol, self.timeframe, self.candles(symbol))

    def funding(self, symbol: str) -> FundingSeries | None:
        """Funding settlements of ``symbol``, or None when neither store nor folder has any."""
        self._feed(symbol, FUNDING)
        return self.store.funding_series(symbol)

    def funding_rates(self, symbol: str) -> list[FundingRate]:
        """Funding settlements as records ([] when none are stored), as the replay takes them."""
        self._feed(symbol, FUNDING)
        return self.store.funding_rates(symbol)


def open_market_data(settings: Settings, timeframe: str, folder: Path | None) -> MarketData:
    """The configured store (``QT_STORE_DIR`` or ``QT_HOME/store``), fed from ``folder``."""
    return MarketData(CandleStore(settings.effective_store_dir), timeframe, folder)
