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
from dataclasses import dataclass
from typing import Any, Protocol

from quantum_trader.clock.clock import Clock, WallClock
from quantum_trader.data.symbols import to_ccxt_perp
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import fmt, timeframe_ms
from quantum_trader.engine.engine import Bar
from quantum_trader.observability.logging import get_logger
from quantum_trader.status.registry import ModuleHandle

Sleep = Callable[[float], None]
#: told when a left-behind symbol rejoins after candles of it were skipped: (symbol, the open
#: time of its first candle after the hole, the candles skipped while it was away)
OnRejoin = Callable[[str, int, int], None]
#: receives a left-behind symbol's skipped candles that its feed served late (to keep in the
#: store, never to decide on)
OnLate = Callable[[Sequence[Bar]], None]
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


@dataclass(slots=True)
class _Run:
    """One symbol's candles of a poll that follow on from its cursor without a hole."""

    bars: list[Bar]
    reach: int  # the close of the last of them (the cursor when there is none)


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

    **One clock, a bounded wait.** The engine has one clock: once a candle closing at t has been
    yielded, a candle closing before t must never follow (the prediction ledger and the equity
    journal refuse time going back, ``tests/reliability/test_stale_feed_live.py``). A symbol
    whose candles skip one (the exchange answered a later candle before an earlier one) is
    *held*: nothing of it is yielded past the hole, and each poll asks again from the missing
    candle. While a symbol is held, or its feed is stale (no new candle), the other symbols
    wait for it, so that its candles still come in time order once the exchange serves them —
    but for at most ``max_lag_candles`` candles of the timeframe, counted against the newest
    close another symbol has reached (not against the wall clock: when the whole feed is
    stale, nobody is ahead and everyone waits). Past that bound the symbol is *left behind*
    (a ``live.feed_left_behind`` warning): the others go on in time order, and its candles that
    close at or before the newest close yielded (the *frontier*) are skipped, never yielded
    late; those its feed serves late are handed to ``on_late`` instead (the live phase keeps
    them in the store, so a feed that was only late leaves no hole there; a candle never
    served is a hole for good once a later one is). When its feed serves a candle after the
    frontier it *rejoins* there
    (``live.feed_rejoined``), skipping over its hole if it had one, and its candles come in
    time order with everyone else's again. :attr:`held` names the holes open now,
    :attr:`left_behind` the symbols left behind (with the close each was left at),
    :attr:`skipped_by` the candles each has skipped; :meth:`figures` gives the counts, also set
    on ``status`` (the market-data module) after every poll.

    What the rest of the system makes of it: a rejoined symbol's streaming features count
    candles, not hours, so their windows span the skipped candles — as the batch features do
    over a stored series with gaps (``features/pipeline.py``: the same states, row by row);
    while BTCUSDT is left behind, the other symbols' cross-asset features are "not available"
    (0, flag 0: ``decision/pipeline.py`` finds no BTCUSDT candle of their open time). Nothing of
    a left-behind symbol reaches the engine, so the simulated exchange matches none of its
    orders, stops or liquidation and its position keeps its last price until it rejoins. The
    risk engine's stale-data rule (``risk/config.py``: ``stale_data_max_age_ms``, 2 h) refuses
    entries on candles that are old when decided: the others' candles held back by the wait
    once older than that, and everyone's late candles after a stall of the whole feed. It
    passes a rejoined symbol's first candles, whose features span the hole (they are current,
    not old): ``on_rejoin`` is told of every rejoin that skipped candles, before the symbol's
    first candle after the hole is yielded, and the live phase has the risk engine hold its
    entries for the feature warm-up from there (rule ``warm_up``, ``risk/warm_up.py``).
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
        max_lag_candles: int = 2,
        status: ModuleHandle | None = None,
        on_rejoin: OnRejoin | None = None,
        on_late: OnLate | None = None,
    ) -> None:
        if max_lag_candles < 0:
            raise ConfigError(f"CcxtCandleSource.max_lag_candles={max_lag_candles}: must be >= 0")
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
        #: 2 candles: a candle one symbol's feed serves a poll late never leaves it behind,
        #: and the candles the others wait with are at most two candles late
        self.max_lag_ms = max_lag_candles * self.step
        self.status = status
        self.on_rejoin = on_rejoin
        self.on_late = on_late
        #: symbol → the open times [a, b) its cursor passed over while left behind and that
        #: no page has covered yet (asked for again, so that what comes late is kept)
        self._missed: dict[str, list[tuple[int, int]]] = {}
        self.kept_late = 0  # skipped candles served late, handed to on_late
        #: symbol → (the open time of the missing candle, the open time served after it)
        self.held: dict[str, tuple[int, int]] = {}
        #: symbol → the close of its last candle when it was left behind
        self.left_behind: dict[str, int] = {}
        #: symbol → its candles passed over (never yielded) while it was left behind
        self.skipped_by: dict[str, int] = {}
        #: symbol → its skipped_by when it was left behind (what this absence skipped is the rest)
        self._skipped_before: dict[str, int] = {}
        self.gaps = 0  # holes seen
        self.departures = 0  # times a symbol was left behind
        self.skipped = 0  # sum of skipped_by
        self.frontier = -1  # the newest close yielded
        #: the open time of the next candle each symbol needs (kept across calls: a resume
        #: after a network error must not count a left-behind symbol's skips twice)
        self._cursor: dict[str, int] = {}

    def figures(self) -> dict[str, int]:
        """The feed's evidence, as the market-data module's status counters."""
        return {
            "live_feed_gaps": self.gaps,
            "live_feed_symbols_held": len(self.held),
            "live_feed_left_behind": self.departures,
            "live_feed_symbols_left_behind": len(self.left_behind),
            "live_feed_candles_skipped": self.skipped,
            "live_feed_candles_kept_late": self.kept_late,
        }

    def __call__(self, last_close: Mapping[str, int]) -> Iterator[Bar]:
        start = self.clock.now() // self.step * self.step
        known = self._cursor
        cursor = {s: max(last_close.get(s, start), known.get(s, -1)) for s in self.symbols}
        self._cursor = cursor
        self.frontier = max([self.frontier, *cursor.values()])
        emitted = 0
        while self.max_candles is None or emitted < self.max_candles:
            batch = self._poll(cursor)
            if not batch:
                self.sleep(self.poll_s)
                continue
            for bar in batch:
                cursor[bar[0]] = bar[2]
                self.frontier = bar[2]  # the batch is in close-time order, after the frontier
                yield bar
                emitted += 1
                if self.max_candles is not None and emitted >= self.max_candles:
                    return

    def _poll(self, cursor: dict[str, int]) -> list[Bar]:
        now = self.clock.now()
        horizon = now  # no candle past the end of a full page (more of that symbol may follow)
        full: set[str] = set()
        runs: dict[str, _Run] = {}
        pages: dict[str, Sequence[Sequence[Any]]] = {}
        for symbol in self.symbols:
            behind = symbol in self.left_behind
            if behind:  # what closed by the frontier can no longer come
                self._move(symbol, cursor, self.frontier)
            # the open time of the first candle we still need (or, left behind, still keep)
            missed = self._missed.get(symbol)
            since = min(a for a, _ in missed) if behind and missed else cursor[symbol]
            rows = self.client.fetch_ohlcv(to_ccxt_perp(symbol), self.timeframe, since, self.limit)
            if behind and missed:
                self._keep_late(symbol, rows)
                if rows and int(rows[-1][0]) + self.step <= self.frontier:
                    rows = []  # a page of late candles only says nothing of what follows
            if rows and len(rows) >= self.limit:
                horizon = min(horizon, int(rows[-1][0]) + self.step)
                full.add(symbol)
            pages[symbol] = [r for r in rows if int(r[0]) + self.step <= now]
            runs[symbol] = self._run(symbol, pages[symbol], cursor)
        self._judge(runs, pages, cursor, full)
        # no candle past the newest close every symbol still waited for has reached
        reached = min(run.reach for s, run in runs.items() if s not in self.left_behind)
        rank = self._rank
        out = [bar for run in runs.values() for bar in run.bars if bar[2] <= min(horizon, reached)]
        out.sort(key=lambda bar: (bar[2], rank[bar[0]]))
        if self.status is not None:
            for name, value in self.figures().items():
                self.status.gauge(name, value)
        return out

    def _run(self, symbol: str, rows: Sequence[Sequence[Any]], cursor: dict[str, int]) -> _Run:
        """The symbol's candles from its cursor up to a hole. A left-behind symbol holds nobody,
        so it waits on no hole before its first candle: its cursor moves over it (skipped)."""
        behind = symbol in self.left_behind
        run = _Run([], cursor[symbol])
        for row in rows:
            open_time = int(row[0])
            if open_time < run.reach:
                continue  # processed already (or skipped)
            if open_time != run.reach:
                if run.bars or not behind:  # a hole after its first candle is a new hole
                    if not behind:
                        self._hold(symbol, run.reach, open_time)
                    break
                self._move(symbol, cursor, open_time)  # nothing of this run is before it
                run.reach = open_time
            if not behind:
                self._release(symbol, open_time)
            run.bars.append(self._bar(symbol, row))
            run.reach = open_time + self.step
        return run

    def _judge(
        self,
        runs: dict[str, _Run],
        pages: Mapping[str, Sequence[Sequence[Any]]],
        cursor: dict[str, int],
        full: set[str],
    ) -> None:
        """Leave behind the symbols lagging past the bound; let back those that caught up.

        A symbol with a full page is never lagging: the exchange has more of it to give.
        """
        lead = max(run.reach for run in runs.values())
        for symbol, run in runs.items():
            if symbol in self.left_behind or symbol in full or lead - run.reach <= self.max_lag_ms:
                continue
            self.held.pop(symbol, None)  # its hole, if any, is skipped, no longer waited on
            self.left_behind[symbol] = run.reach
            self._skipped_before[symbol] = self.skipped_by.get(symbol, 0)
            self.departures += 1
            log.warning(
                "live.feed_left_behind",
                symbol=symbol,
                timeframe=self.timeframe,
                last_close=fmt(run.reach),
                others_at=fmt(lead),
                max_lag_candles=self.max_lag_ms // self.step,
                action="the other symbols go on; its candles up to theirs are skipped",
            )
            runs[symbol] = self._run(symbol, pages[symbol], cursor)  # over its hole, if it can
        for symbol in list(self.left_behind):
            run = runs[symbol]
            if run.bars and lead - run.reach <= self.max_lag_ms:
                left_at = self.left_behind.pop(symbol)
                if symbol in self._missed:  # this page settles what it skipped; the rest is lost
                    self._keep_late(symbol, pages[symbol])
                    self._missed.pop(symbol, None)
                skipped = self.skipped_by.get(symbol, 0) - self._skipped_before.pop(symbol, 0)
                log.info(
                    "live.feed_rejoined",
                    symbol=symbol,
                    left_at=fmt(left_at),
                    at=fmt(run.bars[0][1]),
                    skipped=skipped,
                    skipped_in_all=self.skipped_by.get(symbol, 0),
                )
                if skipped and self.on_rejoin is not None:
                    self.on_rejoin(symbol, run.bars[0][1], skipped)

    def _move(self, symbol: str, cursor: dict[str, int], to: int) -> None:
        """Move a left-behind symbol's cursor up to ``to``, counting the candles passed over as
        skipped: they will never be yielded (but kept if served late, :meth:`_keep_late`)."""
        if to > cursor[symbol]:
            n = (to - cursor[symbol]) // self.step
            self.skipped += n
            self.skipped_by[symbol] = self.skipped_by.get(symbol, 0) + n
            missed = self._missed.setdefault(symbol, [])
            if missed and missed[-1][1] == cursor[symbol]:
                missed[-1] = (missed[-1][0], to)  # one stretch, one range
            else:
                missed.append((cursor[symbol], to))
            cursor[symbol] = to

    def _keep_late(self, symbol: str, rows: Sequence[Sequence[Any]]) -> None:
        """Hand the skipped candles of ``symbol`` that this page serves to ``on_late``, so the
        store has them though the engine never decides on them. What the page covers, up to its
        last candle, is settled (served, or a hole for good); after it, nothing was served yet
        (a stale feed, or a full page): asked for again at the next poll."""
        missed = self._missed[symbol]
        late = [row for row in rows if any(a <= int(row[0]) < b for a, b in missed)]
        end = int(rows[-1][0]) + self.step if rows else None
        left = [(a if end is None else max(a, end), b) for a, b in missed if end is None or b > end]
        if left:
            self._missed[symbol] = left
        else:
            del self._missed[symbol]
        if late:
            self.kept_late += len(late)
            if self.on_late is not None:
                self.on_late([self._bar(symbol, row) for row in late])

    def _bar(self, symbol: str, row: Sequence[Any]) -> Bar:
        """A ccxt OHLCV row as the engine's candle."""
        open_time = int(row[0])
        o, h, lo, c, v = (float(x) for x in row[1:6])
        return (symbol, open_time, open_time + self.step, o, h, lo, c, v)

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
