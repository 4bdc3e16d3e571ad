"""The engine: one loop for backtest, paper and live.

It advances the clock to each closed candle's close time, runs the jobs that fell due (in
simulated time during a replay), then publishes ``market.candle.closed``. Every module reacts
through the bus. Only the clock and the candle source differ between replay and live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from quantum_trader.bus import topics
from quantum_trader.bus.port import EventBus
from quantum_trader.bus.typed import publish_event
from quantum_trader.clock.clock import Clock, SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.market import Candle
from quantum_trader.domain.time import fmt, timeframe_ms
from quantum_trader.status.registry import ModuleHandle

CandleHandler = Callable[[Candle], None]
#: The scalar hot path: (symbol, open_time, close_time, open, high, low, close, volume).
BarHandler = Callable[[str, int, int, float, float, float, float, float], None]
Bar = tuple[str, int, int, float, float, float, float, float]

_TIMEFRAMES = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d")
_TIMEFRAME_BY_MS = {timeframe_ms(tf): tf for tf in _TIMEFRAMES}


#: Fast-forward: a run of fewer quiet candles than this is processed one by one (cheaper).
MIN_FAST_FORWARD = 3
#: Fast-forward: candles processed one by one from a stretch's horizon before asking again.
AFTER_HORIZON = 2


@dataclass(frozen=True, slots=True)
class BarColumns:
    """One symbol's candles as columns (numpy arrays, plus Python lists for the scalar path).

    ``close_time`` must be strictly increasing; the engine checks it once per run.
    """

    symbol: str
    open_time: npt.NDArray[np.int64]
    close_time: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    #: open, high, low, close, volume as one (n, 5) matrix: one ``tolist`` per candle row
    rows: npt.NDArray[np.float64] | None = None
    #: ``close_time`` as Python ints, converted once: the per-candle steps and the equity curve
    #: of a replay take slices of it (shared; nobody may modify it)
    close_times: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.rows is None:
            rows = np.column_stack([self.open, self.high, self.low, self.close, self.volume])
            object.__setattr__(self, "rows", rows)
        if not self.close_times:
            object.__setattr__(self, "close_times", self.close_time.tolist())

    def __len__(self) -> int:
        return len(self.close_time)

    def bars(self, start: int = 0, stop: int | None = None) -> Iterator[Bar]:
        """Rows ``[start, stop)`` as the engine's scalar tuples."""
        sl = slice(start, stop)
        n = len(self.close_time[sl])
        return zip(
            [self.symbol] * n,
            self.open_time[sl].tolist(),
            self.close_time[sl].tolist(),
            self.open[sl].tolist(),
            self.high[sl].tolist(),
            self.low[sl].tolist(),
            self.close[sl].tolist(),
            self.volume[sl].tolist(),
            strict=True,
        )


@runtime_checkable
class BarSkipper(Protocol):
    """The fast-forward capability of a bar handler's owner (see :meth:`Engine.run_columns`).

    ``quiet_until`` answers: from candle ``start``, which is the first candle (at most ``stop``)
    this participant must see through its per-candle handler? Every candle before it may be
    handed over in bulk instead. ``skip_bars`` applies candles ``[start, stop)`` at once and must
    leave exactly the state (and records: ledger, equity points, events) that the per-candle
    calls would have left. Looking at later candles to find the horizon is allowed; acting on
    them is not: a quiet candle is one where the per-candle call provably changes nothing but
    the participant's running state.
    """

    def quiet_until(self, symbol: str, bars: BarColumns, start: int, stop: int) -> int: ...

    def skip_bars(self, symbol: str, bars: BarColumns, start: int, stop: int) -> None: ...


@dataclass(slots=True)
class EngineStats:
    candles: int = 0
    jobs_run: int = 0
    first_close: int | None = None
    last_close: int | None = None
    per_symbol: dict[str, int] = field(default_factory=dict)


class Engine:
    """Drives candles through the system on the engine's clock.

    ``on_candle`` handlers run synchronously for every candle, before the bus event; they are the
    hot path (the decision pipeline registers there), while the bus event serves slower listeners.

    ``on_bar`` handlers get the same candle as scalars and run first: a replay of hundreds of
    thousands of candles spends about a microsecond per candle here, so the simulated exchange,
    the equity recorder and bar strategies use it. A Candle object is only built, and
    ``market.candle.closed`` only published, when a candle handler is registered or
    ``publish_candles`` is set (the default, for modules listening on the bus).
    """

    def __init__(
        self,
        clock: Clock,
        bus: EventBus,
        scheduler: Scheduler,
        market_data: ModuleHandle | None = None,
        *,
        publish_candles: bool = True,
    ) -> None:
        self.clock = clock
        self.bus = bus
        self.scheduler = scheduler
        self.stats = EngineStats()
        self._handlers: list[CandleHandler] = []
        self._bar_handlers: list[BarHandler] = []
        self._skippers: list[BarSkipper | None] = []
        self.publish_candles = publish_candles
        self._sim_clock = clock if isinstance(clock, SimulatedClock) else None
        self._market_data = market_data
        self._last_close: dict[str, int] = {}

    def on_candle(self, handler: CandleHandler) -> None:
        self._handlers.append(handler)

    def on_bar(self, handler: BarHandler, *, skipper: BarSkipper | None = None) -> None:
        """Register a scalar candle handler (runs before candle handlers, in order).

        ``skipper``: the handler's fast-forward side (see :meth:`run_columns`); a handler
        without one makes every candle go through the per-candle path.
        """
        self._bar_handlers.append(handler)
        self._skippers.append(skipper)

    @property
    def can_fast_forward(self) -> bool:
        """Whether :meth:`run_columns` can hand quiet candles over in bulk: every bar handler
        has a skipper, no candle handler or candle event needs per-candle objects, and the
        clock is simulated (a wall clock must see each candle arrive)."""
        return (
            self._sim_clock is not None
            and not self._handlers
            and not self.publish_candles
            and all(s is not None for s in self._skippers)
        )

    def resume_from(self, last_close: dict[str, int]) -> None:
        """Continue a replay: the per-symbol last close times of the interrupted run."""
        self._last_close.update(last_close)

    @property
    def last_close(self) -> dict[str, int]:
        return dict(self._last_close)

    def process(self, candle: Candle) -> None:
        """Handle one closed candle: advance time, run due jobs, notify handlers and the bus."""
        c = candle
        self.run_bars(
            ((c.symbol, c.open_time, c.close_time, c.open, c.high, c.low, c.close, c.volume),)
        )

    def process_bar(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None:
        """The same as :meth:`process` for one candle given as scalars."""
        self.run_bars(((symbol, open_time, close_time, o, h, lo, c, v),))

    def run_bars(
        self,
        bars: Iterable[Bar],
        *,
        progress: Callable[[int], None] | None = None,
        progress_every: int = 1024,
    ) -> EngineStats:
        """Process scalar candles in order: the replay hot path (and, one at a time, live).

        Per candle: refuse a stream going backwards, advance the clock to the close, run due
        jobs, call the bar handlers, then the candle handlers and the bus event if any. The
        handler lists are read once per call: register handlers before running.
        """
        last_close = self._last_close
        sim = self._sim_clock
        clock = self.clock
        scheduler = self.scheduler
        next_due = scheduler.next_due
        handlers = tuple(self._bar_handlers)
        slow_path = bool(self._handlers) or self.publish_candles
        stats = self.stats
        per_symbol = stats.per_symbol
        pending = 0
        close_time = -1
        first_close = stats.first_close
        for symbol, open_time, close_time, o, h, lo, c, v in bars:
            if close_time <= last_close.get(symbol, -1):
                self._backwards(symbol, close_time)
            last_close[symbol] = close_time
            if first_close is None:
                first_close = stats.first_close = close_time
            if sim is not None:
                sim.advance_to(close_time)
            elif clock.now() < close_time:
                raise DataError(
                    f"{symbol} candle closing at {fmt(close_time)} arrived before its close "
                    f"(now {fmt(clock.now())})"
                )
            due = next_due()
            if due is not None and due <= close_time:
                stats.jobs_run += len(scheduler.run_due(close_time))
            for handler in handlers:
                handler(symbol, open_time, close_time, o, h, lo, c, v)
            if slow_path:
                self._candle_path(symbol, open_time, close_time, o, h, lo, c, v)
            per_symbol[symbol] = per_symbol.get(symbol, 0) + 1
            pending += 1
            if pending == progress_every:
                self._flush_progress(pending, close_time, progress)
                pending = 0
        self._flush_progress(pending, close_time, progress)
        return stats

    def run_columns(
        self,
        bars: BarColumns,
        start: int = 0,
        *,
        fast_forward: bool = True,
        progress: Callable[[int], None] | None = None,
        progress_every: int = 1024,
    ) -> EngineStats:
        """Process one symbol's candles ``bars[start:]``, fast-forwarding quiet stretches
        (when ``fast_forward`` and :attr:`can_fast_forward`; else every candle goes through
        :meth:`run_bars`): the smallest quiet horizon of the skippers (:class:`BarSkipper`), also
        bounded by the next scheduler job, ends a stretch that each skipper applies in bulk; the
        candle at the horizon and the one after it go through the per-candle path. The result
        is the per-candle result exactly (``tests/backtester/test_fast_forward.py``)."""
        n = len(bars)
        if start >= n:
            return self.stats
        times = bars.close_time
        _check_increasing(bars, start)
        if not (fast_forward and self.can_fast_forward):
            return self.run_bars(bars.bars(start), progress=progress, progress_every=progress_every)
        symbol = bars.symbol
        skippers = [s for s in self._skippers if s is not None]
        asking = skippers[::-1]
        handlers = tuple(self._bar_handlers)
        per_symbol = self.stats.per_symbol
        sim = self._sim_clock
        assert sim is not None
        if int(times[start]) <= self._last_close.get(symbol, -1):
            self._backwards(symbol, int(times[start]))
        if self.stats.first_close is None:
            self.stats.first_close = int(times[start])
        pending = 0
        k = start
        while k < n:
            begin = k
            horizon = self._quiet_horizon(bars, k, asking)
            if horizon - k >= MIN_FAST_FORWARD:
                for skipper in skippers:
                    skipper.skip_bars(symbol, bars, k, horizon)
                last = bars.close_times[horizon - 1]
                self._last_close[symbol] = last
                sim.advance_to(last)
                k = horizon
                # the horizon candle and the one after it, one by one: a participant that acts
                # at the horizon usually acts on the next candle too (an order sent at a close
                # fills at the next open), and asking every skipper again costs more
                stop = k + AFTER_HORIZON
            else:
                # a short stretch: cheaper one by one, up to and including the horizon
                stop = max(horizon, k) + 1
            k = self._one_by_one(bars, k, min(stop, n), handlers)
            per_symbol[symbol] = per_symbol.get(symbol, 0) + k - begin
            pending += k - begin
            if pending >= progress_every:
                self._flush_progress(pending, self._last_close[symbol], progress)
                pending = 0
        self._flush_progress(pending, self._last_close[symbol], progress)
        return self.stats

    def _one_by_one(
        self, bars: BarColumns, start: int, stop: int, handlers: tuple[BarHandler, ...]
    ) -> int:
        """Candles ``[start, stop)`` through the per-candle path, read by index (cheaper than
        slicing the arrays for one candle or a few); returns ``stop``."""
        symbol, close_times, open_time_at = bars.symbol, bars.close_times, bars.open_time.item
        rows = bars.rows
        assert rows is not None
        last_close, sim, scheduler = self._last_close, self._sim_clock, self.scheduler
        assert sim is not None
        for i in range(start, stop):
            close_time = close_times[i]
            open_time = open_time_at(i)
            o, h, lo, c, v = rows[i].tolist()
            last_close[symbol] = close_time
            sim.advance_to(close_time)
            due = scheduler.next_due()
            if due is not None and due <= close_time:
                self.stats.jobs_run += len(scheduler.run_due(close_time))
            for handler in handlers:
                handler(symbol, open_time, close_time, o, h, lo, c, v)
        return stop

    def _quiet_horizon(self, bars: BarColumns, k: int, asking: list[BarSkipper]) -> int:
        """The end of the quiet stretch from candle ``k``: the next scheduler job's candle, cut
        by each skipper's ``quiet_until`` (last registered first) until too short to skip."""
        horizon = len(bars)
        due = self.scheduler.next_due()
        if due is not None:
            horizon = min(horizon, k + int(np.searchsorted(bars.close_time[k:], due, side="left")))
        for skipper in asking:
            if horizon - k < MIN_FAST_FORWARD:
                break
            horizon = skipper.quiet_until(bars.symbol, bars, k, horizon)
        return horizon

    def _backwards(self, symbol: str, close_time: int) -> None:
        raise DataError(
            f"{symbol} candle stream went backwards: close {fmt(close_time)} "
            f"after {fmt(self._last_close[symbol])}"
        )

    def _candle_path(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None:
        tf = _TIMEFRAME_BY_MS.get(close_time - open_time)
        if tf is None:
            raise DataError(
                f"{symbol} candle {fmt(open_time)}–{fmt(close_time)} has no known timeframe"
            )
        candle = Candle(symbol, tf, open_time, o, h, lo, c, v)
        for handler in self._handlers:
            handler(candle)
        if self.publish_candles:
            publish_event(self.bus, topics.CANDLE_CLOSED, candle, source="market_data")

    def _flush_progress(
        self, n: int, last_close: int, progress: Callable[[int], None] | None
    ) -> None:
        if not n:
            return
        stats = self.stats
        stats.candles += n
        stats.last_close = last_close
        if self._market_data is not None:
            self._market_data.count("candles_processed", n)
        if progress is not None:
            progress(n)

    def run(
        self, candles: Iterable[Candle], *, progress: Callable[[int], None] | None = None
    ) -> EngineStats:
        """Process every candle of a source, in order."""
        for candle in candles:
            self.process(candle)
            if progress is not None:
                progress(1)
        return self.stats


def _check_increasing(bars: BarColumns, start: int) -> None:
    """A stretch of candles whose close times do not strictly increase stops the run."""
    times = bars.close_time
    if len(times) - start > 1 and bool(np.any(np.diff(times[start:]) <= 0)):
        bad = start + int(np.argmax(np.diff(times[start:]) <= 0))
        raise DataError(
            f"{bars.symbol} candle stream went backwards: close {fmt(int(times[bad + 1]))} "
            f"after {fmt(int(times[bad]))}"
        )
