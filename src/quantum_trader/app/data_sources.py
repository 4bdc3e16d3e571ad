"""Where the main job's candles come from: the local store, ``QT_DATA_DIR``, or (asked for) synthetic.

Never a silent fallback: with no data the run stops with a message that says how to provide it;
synthetic data is used only when ``--synthetic`` asks for it and is labelled in every output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from quantum_trader.adapters.candle_store.importer import import_file
from quantum_trader.adapters.candle_store.store import CandleStore
from quantum_trader.config.settings import Settings
from quantum_trader.data.download import DownloadConfig, MarketDataDownloader
from quantum_trader.data.ports import ExchangeMarketData
from quantum_trader.data.symbols import synthetic_symbol
from quantum_trader.data.synthetic import SyntheticConfig, generate_market
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.time import MS_PER_DAY, fmt, timeframe_ms


@dataclass(frozen=True, slots=True)
class ReplayData:
    """The frames to replay, per symbol, and where they came from."""

    frames: dict[str, pd.DataFrame]  # the replay window
    origin: str  # "store" | "QT_DATA_DIR=…" | "SYNTHETIC seed=…"
    synthetic: bool
    history: dict[str, pd.DataFrame]  # up to ``train_days`` before the replay, for training
    funding: dict[str, pd.DataFrame]  # funding settlements (funding_time, rate) where stored

    @property
    def replay_start(self) -> int:
        """Open time of the first replayed candle."""
        return min(int(f["open_time"].iloc[0]) for f in self.frames.values())


NO_DATA_HELP = (
    "no market data for {symbols} {tf}. Provide it in one of these ways:\n"
    "  • QT_DATA_DIR=/path/to/data make run   (a folder with ohlcv/SYMBOL-{tf}.parquet, "
    "like ../shared/data)\n"
    "  • quantum-trader data import FILE      (CSV or Parquet, into the local store)\n"
    "  • quantum-trader data download --symbols {symbols_csv} --timeframe {tf}   (needs network)\n"
    "  • quantum-trader run --synthetic       (a labelled SYNTHETIC market, for demos only)"
)


def _import_from_dir(store: CandleStore, data_dir: Path, symbols: list[str], tf: str) -> list[str]:
    imported = []
    for symbol in symbols:
        path = data_dir / "ohlcv" / f"{symbol}-{tf}.parquet"
        if not path.is_file():
            continue
        import_file(store, path, symbol=symbol, timeframe=tf)
        funding = data_dir / "funding" / f"{symbol}-funding.parquet"
        if funding.is_file():
            import_file(store, funding, symbol=symbol, timeframe="funding")
        imported.append(symbol)
    return imported


def _synthetic(store: CandleStore, settings: Settings) -> list[str]:
    days = settings.replay_days + settings.train_days + 30  # training history and warm-up
    candles = days * MS_PER_DAY // timeframe_ms(settings.timeframe)
    config = SyntheticConfig(seed=settings.seed, candles=int(candles), timeframe=settings.timeframe)
    names = []
    for series in generate_market(config, settings.symbols):
        store.write(
            series.symbol,
            settings.timeframe,
            series.frame,
            synthetic=True,
            source=f"synthetic seed={settings.seed}",
        )
        names.append(series.symbol)
    return names


def _download(
    store: CandleStore,
    settings: Settings,
    symbols: list[str],
    exchange: Callable[[], ExchangeMarketData] | None,
) -> str | None:
    """Fetch recent closed candles and funding for ``symbols`` from the exchange's public API.
    Returns None on success, else why it failed (offline, refused …)."""
    # ccxt (~50 MiB) is imported only when a download is really attempted
    import ccxt

    from quantum_trader.adapters.ccxt_market_data import TRANSIENT_ERRORS, binance_usdm_public

    exchange = exchange or binance_usdm_public
    days = settings.replay_days + settings.train_days + 30
    try:
        downloader = MarketDataDownloader(
            exchange(),
            store,
            config=DownloadConfig(max_retries=2, backoff_s=0.5),
            transient=TRANSIENT_ERRORS,
            counters=store.counters,
        )
        since = downloader.now() - days * MS_PER_DAY
        for symbol in symbols:
            downloader.download_ohlcv(symbol, settings.timeframe, since=since)
            downloader.download_funding(symbol, since=since)
    except (DataError, ccxt.BaseError, OSError) as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return None


def load_replay_data(
    settings: Settings,
    store: CandleStore,
    *,
    synthetic: bool,
    exchange: Callable[[], ExchangeMarketData] | None = None,
    window: tuple[int, int] | None = None,
) -> ReplayData:
    """Frames for the last ``replay_days`` of every configured symbol (or their SYN twins), or
    for the candles opening in ``window`` = [start, end) (epoch ms) when given; the history is
    the ``train_days`` before the replay either way.

    Where from: the store; else ``QT_DATA_DIR``; else a download from the exchange's public API.
    With none of them it stops with how to provide data — never a silent synthetic fallback."""
    tf = settings.timeframe
    if synthetic:
        symbols = _synthetic(store, settings)
        origin = f"SYNTHETIC seed={settings.seed}"
    else:
        symbols = list(settings.symbols)
        have = set(store.symbols(tf))
        missing = [s for s in symbols if s not in have]
        origin = "store"
        if missing and settings.data_dir is not None:
            _import_from_dir(store, settings.data_dir, missing, tf)
            origin = f"QT_DATA_DIR={settings.data_dir}"
        have = set(store.symbols(tf))
        missing = [s for s in symbols if s not in have]
        failure = None
        if missing and settings.offline:
            failure = "skipped: QT_OFFLINE=true"
        elif missing:
            failure = _download(store, settings, missing, exchange)
            origin = "downloaded from Binance USDT-M" if failure is None else origin
            have = set(store.symbols(tf))
            missing = [s for s in symbols if s not in have]
        if missing:
            help_text = NO_DATA_HELP.format(symbols=missing, symbols_csv=",".join(missing), tf=tf)
            raise DataError(f"{help_text}\n(download attempted: {failure})")
    frames, history, funding = {}, {}, {}
    for symbol in symbols:
        frame = store.load(symbol, tf)
        if frame.empty:
            raise DataError(f"{symbol} {tf}: the store holds no candles")
        times = frame["open_time"]
        if window is None:
            start = int(times.iloc[-1]) - settings.replay_days * MS_PER_DAY
            replayed = times > start
        else:
            # the first replayed candle opens at window[0]; history ends with the one before
            start = window[0] - timeframe_ms(tf)
            replayed = (times > start) & (times < window[1])
            if not replayed.any():
                raise DataError(
                    f"{symbol} {tf}: the store has no candle from {fmt(window[0])} "
                    f"to {fmt(window[1])} (it holds {fmt(int(times.iloc[0]))} "
                    f"to {fmt(int(times.iloc[-1]))})"
                )
        first = start - settings.train_days * MS_PER_DAY
        frames[symbol] = frame[replayed].reset_index(drop=True)
        history[symbol] = frame[(times > first) & (times <= start)].reset_index(drop=True)
        if store.funding_path(symbol).is_file():
            funding[symbol] = store.load_funding(symbol)
    return ReplayData(
        frames=frames,
        origin=origin,
        synthetic=synthetic,
        history=history,
        funding=funding,
    )


__all__ = ["NO_DATA_HELP", "ReplayData", "load_replay_data", "synthetic_symbol"]
