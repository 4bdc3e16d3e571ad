"""Paper trading: the backtest composition on a wall clock, with the simulated exchange.

Two candle sources feed it: a replay of stored candles at a chosen speed (a
:class:`ScaledWallClock` runs ``speed`` times faster than real time from the replay's start, and
:func:`paced` releases each candle once that clock passes its close), or live closed candles
polled through ccxt (:class:`CcxtCandleSource`). Everything downstream of the source is the
engine, exchange, portfolio and order manager that backtests use.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from quantum_trader.clock.clock import Clock, WallClock
from quantum_trader.data.symbols import to_ccxt_perp
from quantum_trader.domain.time import fmt, timeframe_ms
from quantum_trader.engine.engine import Bar
from quantum_trader.observability.logging import get_logger

Sleep = Callable[[float], None]
log = get_logger(__name__)


class ScaledWallClock:
    """Wall time mapped onto a replay: ``origin_ms`` at the start, ``speed`` × faster after.

    >>> class Fake:
    ...     t = 1_000
    ...     def now(self) -> int: return self.t
    >>> wall = Fake(); clock = ScaledWallClock(0, 60.0, wall)
    >>> wall.t += 1_000; clock.now()  # one real second = one replayed minute
    60000
    """

    def __init__(self, origin_ms: int, speed: float, wall: Clock | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"replay speed must be > 0, got {speed}")
        self._wall = wall or WallClock()
        self._start = self._wall.now()
        self._origin = origin_ms
        self.speed = speed

    def now(self) -> int:
        return self._origin + int((self._wall.now() - self._start) * self.speed)


def paced(bars: Iterable[Bar], clock: ScaledWallClock, sleep: Sleep = time.sleep) -> Iterator[Bar]:
    """Release each candle when ``clock`` reaches its close (waiting in real time)."""
    for bar in bars:
        close_time = bar[2]
        while (ahead := close_time - clock.now()) > 0:
            sleep(ahead / clock.speed / 1000.0)
        yield bar


class OhlcvClient(Protocol):
    """The part of a ccxt exchange the live candle source uses."""

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> Sequence[Sequence[Any]]: ...


class CcxtCandleSource:
    """Closed candles from ccxt ``fetch_ohlcv``, merged across symbols in close-time order.

    Only candles whose close is at or before the clock are yielded (the exchange also returns
    the forming one); each candle once. On a fresh start it begins with the first candle that
    closes after the start; on a resume, right after the last processed close of each symbol,
    so candles that closed while the process was down are processed first. Candles closing
    together come in the replay's order (``ReplayFeed``): the ``first`` symbols (the
    cross-asset BTCUSDT, which other symbols' features read), then by name. While catching
    up page by page, no candle is yielded past the end of a symbol's full page, so a symbol
    with more pages to come never falls behind the others.

    A symbol whose candles skip one (the exchange answered a later candle before an earlier
    one) is *held*: nothing of it is yielded past the hole, and each poll asks again from the
    missing candle. **No symbol gets a candle past the newest close every symbol has reached**:
    the engine has one clock, and a held or stale symbol's late candles must not come after
    another symbol's later ones (the prediction ledger and the equity journal refuse time going
    back: a run that let the others go on failed when the held symbol resumed,
    ``tests/reliability/test_stale_feed_live.py``). So while one symbol is held or its feed is
    stale, every symbol waits; once the exchange serves the missing candles they all come in
    time order, and the risk engine's stale-data rule refuses the entries of those that are
    too old by then (``risk/config.py``: ``stale_data_max_age_ms``). Per-symbol engine time,
    which would let the other symbols trade on meanwhile, is not built. :attr:`held` names the
    holes open now, :attr:`gaps` counts those seen.
    """

    def __init__(
        self,
        client: OhlcvClient,
        symbols: Sequence[str],
        timeframe: str,
        clock: Clock,
        *,
        sleep: Sleep = time.sleep,
        poll_s: float = 5.0,
        max_candles: int | None = None,
        limit: int = 500,
        first: Sequence[str] = ("BTCUSDT",),
    ) -> None:
        self.client = client
        leading = [s for s in first if s in symbols]
        self.symbols = leading + sorted(s for s in symbols if s not in leading)
        self._rank = {s: i for i, s in enumerate(self.symbols)}
        self.timeframe = timeframe
        self.step = timeframe_ms(timeframe)
        self.clock = clock
        self.sleep = sleep
        self.poll_s = poll_s
        self.max_candles = max_candles
        self.limit = limit
        #: symbol → (the open time of the missing candle, the open time served after it)
        self.held: dict[str, tuple[int, int]] = {}
        self.gaps = 0

    def __call__(self, last_close: Mapping[str, int]) -> Iterator[Bar]:
        start = self.clock.now() // self.step * self.step
        cursor = {s: last_close.get(s, start) for s in self.symbols}
        emitted = 0
        while self.max_candles is None or emitted < self.max_candles:
            batch = self._poll(cursor)
            if not batch:
                self.sleep(self.poll_s)
                continue
            for bar in batch:
                cursor[bar[0]] = bar[2]
                yield bar
                emitted += 1
                if self.max_candles is not None and emitted >= self.max_candles:
                    return

    def _poll(self, cursor: Mapping[str, int]) -> list[Bar]:
        now = self.clock.now()
        out: list[Bar] = []
        horizon = now  # no candle past the end of a full page (more of that symbol may follow)
        reached = now  # the newest close every symbol has reached: no candle past it
        for symbol in self.symbols:
            since = cursor[symbol]  # the open time of the first candle we still need
            rows = self.client.fetch_ohlcv(to_ccxt_perp(symbol), self.timeframe, since, self.limit)
            if rows and len(rows) >= self.limit:
                horizon = min(horizon, int(rows[-1][0]) + self.step)
            previous = cursor[symbol]
            for row in rows:
                open_time = int(row[0])
                close_time = open_time + self.step
                if close_time > now or close_time <= previous:
                    continue
                if open_time != previous:
                    self._hold(symbol, previous, open_time)
                    break
                self._release(symbol, open_time)
                o, h, lo, c, v = (float(x) for x in row[1:6])
                out.append((symbol, open_time, close_time, o, h, lo, c, v))
                previous = close_time
            reached = min(reached, previous)
        rank = self._rank
        out.sort(key=lambda bar: (bar[2], rank[bar[0]]))
        return [bar for bar in out if bar[2] <= min(horizon, reached)]

    def _hold(self, symbol: str, missing: int, served: int) -> None:
        if symbol not in self.held:
            self.gaps += 1
            log.warning(
                "live.feed_gap",
                symbol=symbol,
                timeframe=self.timeframe,
                missing=fmt(missing),
                served=fmt(served),
                action="symbol held until the exchange serves the missing candle",
            )
        self.held[symbol] = (missing, served)

    def _release(self, symbol: str, open_time: int) -> None:
        hole = self.held.pop(symbol, None)
        if hole is not None:
            log.info("live.feed_whole", symbol=symbol, missing=fmt(hole[0]), at=fmt(open_time))
