"""Market data (module 23): frames, validation, the look-ahead guard, download logic, synthetic
markets. Ports only — the Parquet store and the ccxt client live in ``quantum_trader.adapters``.
"""

from quantum_trader.data.download import DownloadConfig, DownloadResult, MarketDataDownloader
from quantum_trader.data.evidence import Counters
from quantum_trader.data.frames import FUNDING_COLUMNS, OHLCV_COLUMNS
from quantum_trader.data.guard import CandleWindow, GuardedCandleFeed
from quantum_trader.data.ports import CandleLoader, CandleSink, EvidenceCounter, ExchangeMarketData
from quantum_trader.data.symbols import SYNTHETIC_PREFIX, is_synthetic, synthetic_symbol
from quantum_trader.data.synthetic import SyntheticConfig, SyntheticSeries, generate_market
from quantum_trader.data.validation import Gap, Problem, Severity, ValidationReport

__all__ = [
    "FUNDING_COLUMNS",
    "OHLCV_COLUMNS",
    "SYNTHETIC_PREFIX",
    "CandleLoader",
    "CandleSink",
    "CandleWindow",
    "Counters",
    "DownloadConfig",
    "DownloadResult",
    "EvidenceCounter",
    "ExchangeMarketData",
    "Gap",
    "GuardedCandleFeed",
    "MarketDataDownloader",
    "Problem",
    "Severity",
    "SyntheticConfig",
    "SyntheticSeries",
    "ValidationReport",
    "generate_market",
    "is_synthetic",
    "synthetic_symbol",
]
