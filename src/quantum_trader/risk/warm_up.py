"""Entries held for a feature warm-up after a hole in a symbol's live candles (issue 22, item 4).

The live candle source leaves behind a symbol whose feed is held or stale for longer than its
bound, and lets it rejoin at the frontier with the candles it missed skipped
(``engine/live_source.py``). Its feature states count candles, not hours, so the rows of its
first candles after the hole read windows that span it (as the batch features do over a stored
gap): their inputs are current, so the stale-data rule passes them, but a window of 96 candles
holds 95 from before the hole. :class:`WarmUps` remembers, per such symbol, the close of the
``candles``-th candle after the hole: the rule ``warm_up`` (``risk/rules/sanity.py``) refuses
its entries until a candle closing then or later has been seen, so every window of at most
``candles`` candles lies after the hole. Exits and reduce-only orders pass.

The length is the feature pipeline's own warm-up, :func:`feature_warm_up`: the candles a fresh
:class:`~quantum_trader.features.pipeline.StreamingFeatures` needs before its first complete row
(``ready``), which is its longest window. Candles are counted on the engine's own clock (the
symbol's candle closes), never on the wall clock, so a replay that never goes live never starts
one and is untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from quantum_trader.domain.time import fmt, timeframe_ms
from quantum_trader.features.pipeline import FeatureConfig, StreamingFeatures
from quantum_trader.observability.logging import get_logger
from quantum_trader.status.registry import ModuleHandle

log = get_logger(__name__)

#: no feature window of the pipeline is this long; past it the measurement gives up
MAX_WARM_UP = 10_000


def feature_warm_up(config: FeatureConfig, timeframe: str) -> int:
    """The candles a fresh feature state of ``config`` needs before its first complete row.

    Measured on the pipeline itself, so it follows any window the pipeline adds. The
    cross-sectional features (``universe``) read windows of 24 candles of every symbol, within
    the per-symbol ones, and need the other symbols to be defined: they are left out here.

    >>> feature_warm_up(FeatureConfig(), "1h")
    97
    """
    features = StreamingFeatures(config.cross_asset, timeframe, replace(config, universe=False))
    step = timeframe_ms(timeframe)
    price = 100.0
    for n in range(1, MAX_WARM_UP + 1):
        price *= 1.002 if n % 3 else 0.997  # moves both ways: returns, RSI, volatility defined
        h, low = price * 1.001, price * 0.999
        features.update_values(n * step, price, h, low, price, 1.0 + n % 5, price)
        if features.ready:
            return n
    raise ValueError(f"feature_warm_up: no complete feature row after {MAX_WARM_UP} candles")


@dataclass(frozen=True, slots=True)
class WarmUp:
    """One symbol's hold on entries after a hole of ``skipped`` candles in its feed.

    >>> warm = WarmUp("BTCUSDT", since=0, until=30, candles=3, skipped=2)  # 10 ms candles
    >>> warm.left(None), warm.left(10), warm.left(20), warm.left(30)
    (3, 2, 1, 0)
    """

    symbol: str
    #: the open time of its first candle after the hole
    since: int
    #: the close of the ``candles``-th candle from ``since``: entries pass on a candle closing
    #: at or after it
    until: int
    candles: int
    skipped: int

    def left(self, last_close: int | None) -> int:
        """Candles still to come before entries pass, after the candle closing at ``last_close``."""
        step = (self.until - self.since) // self.candles
        seen = self.since if last_close is None else max(last_close, self.since)
        return max(0, -(-(self.until - seen) // step))


class WarmUps:
    """The symbols warming up now; the risk engine asks it per intent and settles it per
    candle (with each symbol's last candle close), logging each start and end."""

    def __init__(self, status: ModuleHandle | None = None) -> None:
        self._status = status
        self.active: dict[str, WarmUp] = {}
        #: a follower's holds (a shadow account's) end unlogged: the engine it follows logs them
        self.quiet = False

    def get(self, symbol: str) -> WarmUp | None:
        return self.active.get(symbol)

    def start(self, symbol: str, *, since: int, step: int, candles: int, skipped: int) -> WarmUp:
        """Hold ``symbol``'s entries for ``candles`` candles from the one opening at ``since``
        (a later hole during a warm-up starts it again from there)."""
        if candles < 1 or step < 1 or skipped < 0:
            raise ValueError(
                f"WarmUps.start({symbol}): candles={candles}, step={step} must be >= 1 and "
                f"skipped={skipped} >= 0"
            )
        warm = WarmUp(symbol, since, since + candles * step, candles, skipped)
        self.active[symbol] = warm
        log.warning(
            "risk.warm_up_started",
            symbol=symbol,
            skipped=skipped,
            candles=candles,
            since=fmt(since),
            entries_from=fmt(warm.until),
            action="entries refused (rule warm_up) until its features no longer span the hole",
        )
        if self._status is not None:
            self._status.count("warm_ups_started")
        self._show()
        return warm

    def adopt(self, warm: WarmUp) -> None:
        """Hold ``warm`` as the engine that started it does (a follower's copy, not logged)."""
        self.active[warm.symbol] = warm

    def settle(self, last_close: Callable[[str], int | None]) -> None:
        """End the warm-ups whose symbol has seen a candle closing at or after its end."""
        if not self.active:  # every candle of a replay comes here
            return
        for symbol, warm in list(self.active.items()):
            close = last_close(symbol)
            if close is not None and close >= warm.until:
                del self.active[symbol]
                if self.quiet:
                    continue
                log.info(
                    "risk.warm_up_ended",
                    symbol=symbol,
                    candles=warm.candles,
                    at=fmt(close),
                    action="entries allowed again",
                )
                self._show()

    def _show(self) -> None:
        """The gauge appears with the first warm-up (a run that had none shows nothing new)."""
        if self._status is not None:
            self._status.gauge("symbols_warming_up", len(self.active))
