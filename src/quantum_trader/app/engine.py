"""The engine: one loop for backtest, paper and live.

It advances the clock to each closed candle's close time, runs the jobs that fell due (in
simulated time during a replay), then publishes ``market.candle.closed``. Every module reacts
through the bus. Only the clock and the candle source differ between replay and live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from quantum_trader.bus import topics
from quantum_trader.bus.envelope import to_payload
from quantum_trader.bus.port import EventBus
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
        self.publish_candles = publish_candles
        self._sim_clock = clock if isinstance(clock, SimulatedClock) else None
        self._market_data = market_data
        self._last_close: dict[str, int] = {}

    def on_candle(self, handler: CandleHandler) -> None:
        self._handlers.append(handler)

    def on_bar(self, handler: BarHandler) -> None:
        """Register a scalar candle handler (runs before candle handlers, in order)."""
        self._bar_handlers.append(handler)

    def resume_from(self, last_close: dict[str, int]) -> None:
        """Continue a replay: the per-symbol last close times of the interrupted run."""
        self._last_close.update(last_close)

    @property
    def last_close(self) -> dict[str, int]:
        return dict(self._last_close)

    def process(self, candle: Candle) -> None:
        """Handle one closed candle: advance time, run due jobs, notify handlers and the bus."""
        close_time = candle.close_time
        previous = self._last_close.get(candle.symbol)
        if previous is not None and close_time <= previous:
            raise DataError(
                f"{candle.symbol} candle stream went backwards: close {fmt(close_time)} "
                f"after {fmt(previous)}"
            )
        self._last_close[candle.symbol] = close_time
        if isinstance(self.clock, SimulatedClock):
            self.clock.advance_to(close_time)
        elif self.clock.now() < close_time:
            raise DataError(
                f"{candle.symbol} candle closing at {fmt(close_time)} arrived before its close "
                f"(now {fmt(self.clock.now())})"
            )
        self.stats.jobs_run += len(self.scheduler.run_due(self.clock.now()))
        c = candle
        for bar_handler in self._bar_handlers:
            bar_handler(c.symbol, c.open_time, close_time, c.open, c.high, c.low, c.close, c.volume)
        for handler in self._handlers:
            handler(candle)
        if self.publish_candles:
            self.bus.publish(topics.MARKET_CANDLE_CLOSED, to_payload(candle), source="market_data")
        self._count(candle)

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

    def _count(self, candle: Candle) -> None:
        stats = self.stats
        stats.candles += 1
        if stats.first_close is None:
            stats.first_close = candle.close_time
        stats.last_close = candle.close_time
        stats.per_symbol[candle.symbol] = stats.per_symbol.get(candle.symbol, 0) + 1
        if self._market_data is not None:
            self._market_data.count("candles_processed")

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
            self.bus.publish(topics.MARKET_CANDLE_CLOSED, to_payload(candle), source="market_data")

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
