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
from quantum_trader.domain.time import fmt
from quantum_trader.status.registry import ModuleHandle

CandleHandler = Callable[[Candle], None]


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
    """

    def __init__(
        self,
        clock: Clock,
        bus: EventBus,
        scheduler: Scheduler,
        market_data: ModuleHandle | None = None,
    ) -> None:
        self.clock = clock
        self.bus = bus
        self.scheduler = scheduler
        self.stats = EngineStats()
        self._handlers: list[CandleHandler] = []
        self._market_data = market_data
        self._last_close: dict[str, int] = {}

    def on_candle(self, handler: CandleHandler) -> None:
        self._handlers.append(handler)

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
        for handler in self._handlers:
            handler(candle)
        self.bus.publish(topics.MARKET_CANDLE_CLOSED, to_payload(candle), source="market_data")
        self._count(candle)

    def _count(self, candle: Candle) -> None:
        stats = self.stats
        stats.candles += 1
        if stats.first_close is None:
            stats.first_close = candle.close_time
        stats.last_close = candle.close_time
        stats.per_symbol[candle.symbol] = stats.per_symbol.get(candle.symbol, 0) + 1
        if self._market_data is not None:
            self._market_data.count("candles_processed")

    def run(
        self, candles: Iterable[Candle], *, progress: Callable[[int], None] | None = None
    ) -> EngineStats:
        """Process every candle of a source, in order."""
        for candle in candles:
            self.process(candle)
            if progress is not None:
                progress(1)
        return self.stats
