"""The live phase of a session: after the replay, the same run goes on with an exchange's closed
candles on the wall clock, until Ctrl-C (or ``max_candles``: ``paper --live-candles
--max-candles``).

How time moves from replay to live: the run's clock is a
:class:`~quantum_trader.clock.clock.ReplayThenWallClock`, which the replay advances candle by
candle. When the replay's candles run out, the runner asks this phase for more
(``TradingSession(then=…)``). It asks the exchange once whether it answers; if not, it says so and
the run ends as it would with ``QT_OFFLINE`` (the clock never leaves replay time). Otherwise it
switches the clock to wall time and hands the runner closed candles from ccxt
(:class:`~quantum_trader.engine.live_source.CcxtCandleSource`): first those that closed after the end of
the replay data (catching up), then each one as it closes. The engine, decision pipeline,
simulated exchange and portfolio are the very objects that traded the replay.

While it waits for the next candle it runs the scheduler's due jobs at wall time (covariate-shift
check, policy refresh, status flush …). Once a day and at the end it appends the new candles to
the local store, so the next run's replay ends where this one stopped (a store write rewrites the
symbol's file; candles lost in a crash are caught up by the next run's live phase), with the
candles a left-behind symbol skipped that its feed served late (never decided on). A network
error after the switch is retried every poll; the source resumes after the last candle
processed, so candles that closed during an outage are caught up. One symbol whose feed stalls
holds the others for two candles at most, then is left behind until it comes back (the source's
figures are the market-data module's status counters, ``live_feed_*``); a symbol that rejoins
after candles of it were skipped has its entries held by the risk engine for the feature
warm-up (``on_rejoin``, :func:`hold_entries_on_rejoin`, ``risk/warm_up.py``). Ctrl-C ends the phase — at
once while it waits, after the candle or job in progress otherwise — and the run ends as it does
offline: intelligence saved, final checkpoint, metrics, report, module status.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from quantum_trader.clock.clock import Clock, ReplayThenWallClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.data.symbols import to_ccxt_perp
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import MS_PER_DAY, fmt, timeframe_ms
from quantum_trader.engine.engine import Bar
from quantum_trader.engine.live_source import CcxtCandleSource, OhlcvClient, OnRejoin, Sleep
from quantum_trader.features.pipeline import FeatureConfig
from quantum_trader.observability.logging import get_logger
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.warm_up import feature_warm_up
from quantum_trader.status.registry import ModuleHandle

log = get_logger(__name__)

#: receives the live candles to keep (the main job appends them to the local store); not the
#: market-data module's ``CandleSink`` port, hence the name
LiveCandleSink = Callable[[Sequence[Bar]], None]
#: told each stage of the live phase as it starts (progress), not a registry ``Stage``
OnProgress = Callable[[str], None]


def hold_entries_on_rejoin(
    risk: Callable[[], RiskEngine | None], features: FeatureConfig, timeframe: str
) -> OnRejoin:
    """What the live phase does when a symbol rejoins after skipped candles: the risk engine
    (read when it happens: the run builds it after the phase) holds its entries for the
    feature pipeline's warm-up, its longest window, counted in the symbol's candles."""
    candles, step = feature_warm_up(features, timeframe), timeframe_ms(timeframe)

    def on_rejoin(symbol: str, since: int, skipped: int) -> None:
        engine = risk()
        if engine is None:
            raise RuntimeError(f"{symbol} rejoined the live feed before the risk engine was built")
        engine.start_warm_up(symbol, since=since, step=step, candles=candles, skipped=skipped)

    return on_rejoin


class LiveConnection(Protocol):
    """How the live phase reaches the exchange and the time (``app/live.py`` gives ccxt, the
    system clock and ``time.sleep``; tests give recorded candles and a clock that moves when
    slept on)."""

    @property
    def name(self) -> str: ...  # the exchange, for logs and the report
    @property
    def client(self) -> Callable[[], OhlcvClient]: ...
    @property
    def wall(self) -> Clock: ...
    @property
    def sleep(self) -> Sleep: ...
    @property
    def network_errors(self) -> Callable[[], tuple[type[BaseException], ...]]: ...


@dataclass(slots=True)
class LiveReport:
    """What the live phase did, for the run summary."""

    #: off | unreachable | running | stopped by Ctrl-C | ended (no more candles) | ended (max
    #: candles: ``paper --max-candles``) | ended by an error
    state: str = "not started"
    reason: str = ""
    switched_at: int | None = None  # wall time when the clock left replay time
    candles: int = 0
    caught_up: int = 0  # of which had closed before the switch
    first_close: int | None = None
    last_close: int | None = None
    network_retries: int = 0
    stored: int = 0  # candles appended to the local store
    #: of them, a left-behind symbol's skipped candles its feed served late (never decided on)
    stored_late: int = 0

    def summary(self) -> dict[str, Any]:
        if self.switched_at is None:
            return {"state": self.state, "reason": self.reason}
        return {
            "state": self.state,
            "switched_to_wall_time": fmt(self.switched_at),
            "candles": self.candles,
            "caught_up": self.caught_up,
            "closes": f"{fmt(self.first_close)} → {fmt(self.last_close)}"
            if self.first_close is not None and self.last_close is not None
            else "none",
            "network_retries": self.network_retries,
            "stored": self.stored,
            "stored_late": self.stored_late,
        }


class _CtrlC:
    """Where Ctrl-C may stop the live phase: at once while it waits (a sleep, a request to the
    exchange); inside a candle's or a job's processing it is held and raised at the next wait,
    so nothing is left half done. Installed on the main thread only, where signals arrive."""

    def __init__(self) -> None:
        self.pressed = False
        self._waiting = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._installed:
            previous = self._previous
            signal.signal(
                signal.SIGINT, previous if previous is not None else signal.default_int_handler
            )
            self._installed = False

    def _on_sigint(self, _signum: int, _frame: FrameType | None) -> None:
        self.pressed = True
        if self._waiting:
            raise KeyboardInterrupt

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """A stretch where Ctrl-C stops at once (and a held one is raised now)."""
        if self.pressed:
            raise KeyboardInterrupt
        previous, self._waiting = self._waiting, True
        try:
            yield
        finally:
            self._waiting = previous

    @contextmanager
    def busy(self) -> Iterator[None]:
        """A stretch that must complete; a Ctrl-C pressed in it is raised after it."""
        previous, self._waiting = self._waiting, False
        try:
            yield
        finally:
            self._waiting = previous
        if previous and self.pressed:
            raise KeyboardInterrupt


class LivePhase:
    """The candles that follow the replay: a ``BarSource`` for ``TradingSession(then=…)``.

    See the module docstring. ``report`` says what happened, ``candles`` holds the live
    candles handed to the runner, and ``replay_ended`` is when (perf counter) the replay's
    candles ran out, so the replay's own duration can be reported.
    """

    def __init__(
        self,
        clock: ReplayThenWallClock,
        scheduler: Scheduler,
        symbols: Sequence[str],
        timeframe: str,
        connection: LiveConnection,
        *,
        poll_s: float,
        keep: LiveCandleSink | None = None,
        keep_every_ms: int = MS_PER_DAY,
        on_stage: OnProgress | None = None,
        max_candles: int | None = None,
        on_current: Callable[[int], None] | None = None,
        market_data: ModuleHandle | None = None,
        on_rejoin: OnRejoin | None = None,
    ) -> None:
        if max_candles is not None and max_candles < 1:
            raise ConfigError(f"LivePhase.max_candles={max_candles}: must be >= 1 (or None)")
        self.clock = clock
        self.max_candles = max_candles
        self.scheduler = scheduler
        self.symbols = list(symbols)
        self.timeframe = timeframe
        self.connection = connection
        self.poll_s = poll_s
        self.keep = keep
        self.keep_every_ms = keep_every_ms
        self.on_stage = on_stage or (lambda _text: None)
        self.report = LiveReport()
        self.replay_ended: float | None = None
        self.candles: list[Bar] = []
        #: skipped candles served late (the source's ``on_late``): stored with the others
        self.late: list[Bar] = []
        self._running: Generator[Bar, None, None] | None = None
        self._ctrl_c = _CtrlC()
        self._kept = 0  # candles[:_kept] are in the store
        self._kept_at = 0  # wall time of the last store write
        #: told once, before the first candle that closed after the switch (the caught-up ones
        #: are history): a real venue takes orders from there on (``execution/handover.py``)
        self._on_current = on_current
        #: the market-data module: the candle source sets its feed counters there (gaps, holes
        #: open now, symbols left behind, candles skipped), so ``quantum-trader status`` shows them
        self.market_data = market_data
        #: told when a symbol rejoins after candles of it were skipped (the source's hook)
        self.on_rejoin = on_rejoin

    def __call__(self, last_close: Mapping[str, int]) -> Iterator[Bar]:
        self._running = self._run(last_close)
        return self._running

    def close(self) -> None:
        """End the phase now if it is still open (the run failed while it was suspended):
        keep its candles and give Ctrl-C back its usual meaning before the run's own ending."""
        if self._running is not None:
            self._running.close()

    def _run(self, last_close: Mapping[str, int]) -> Generator[Bar, None, None]:
        self.replay_ended = time.perf_counter()
        errors = self.connection.network_errors()
        cursor = dict(last_close)
        try:
            client = self.connection.client()
            self._probe(client, cursor)
        except errors as exc:
            self._unreachable(exc)
            return
        self.clock.go_live()
        report = self.report
        report.state, report.switched_at = "running", self.clock.now()
        self._kept_at = report.switched_at
        log.info(
            "live.start",
            exchange=self.connection.name,
            after=fmt(max(cursor.values())),
            wall_time=fmt(report.switched_at),
            poll_s=self.poll_s,
        )
        self.on_stage(f"live on {self.connection.name} closed candles (Ctrl-C stops)")
        with self._ctrl_c:
            try:
                yield from self._candles(client, cursor, errors)
            finally:
                if report.state == "running":  # closed from outside: the run failed
                    report.state = "ended by an error"
                with self._ctrl_c.busy():
                    self._keep_candles()
        log.info("live.end", state=report.state, candles=report.candles, stored=report.stored)

    def _probe(self, client: OhlcvClient, cursor: Mapping[str, int]) -> None:
        """One small request before the switch: does the exchange answer at all?"""
        symbol = self.symbols[0]
        client.fetch_ohlcv(to_ccxt_perp(symbol), self.timeframe, cursor.get(symbol), 1)

    def _unreachable(self, exc: BaseException) -> None:
        message = str(exc).splitlines()[0][:200] if str(exc) else "no message"
        reason = f"{type(exc).__name__}: {message}"
        self.report.state, self.report.reason = "unreachable", reason
        log.warning(
            f"live: {self.connection.name} is unreachable ({reason}); the run ends after the replay, "
            "as with QT_OFFLINE=true"
        )

    def _candles(
        self, client: OhlcvClient, cursor: dict[str, int], errors: tuple[type[BaseException], ...]
    ) -> Iterator[Bar]:
        """Closed candles until Ctrl-C; a network error waits a poll and resumes at ``cursor``."""
        source = CcxtCandleSource(
            client,
            self.symbols,
            self.timeframe,
            self.connection.wall,
            sleep=self._wait,
            poll_s=self.poll_s,
            status=self.market_data,
            on_rejoin=self.on_rejoin,
            on_late=self.late.extend,
        )
        report, ctrl_c = self.report, self._ctrl_c
        retrying = False
        while True:
            try:
                if retrying:
                    with ctrl_c.waiting():
                        self._wait(self.poll_s)
                bars = source(cursor)
                while True:
                    with ctrl_c.waiting():
                        bar = next(bars, None)
                    if bar is None:
                        report.state = "ended"
                        return
                    self._count(bar)
                    cursor[bar[0]] = bar[2]
                    if self._on_current is not None and report.candles > report.caught_up:
                        on_current, self._on_current = self._on_current, None
                        on_current(self.clock.now())
                    yield bar  # the engine processes it; a Ctrl-C meanwhile is held
                    retrying = False
                    if self.max_candles is not None and report.candles >= self.max_candles:
                        report.state = "ended (max candles)"
                        return
            except KeyboardInterrupt:
                report.state = "stopped by Ctrl-C"
                return
            except errors as exc:
                report.network_retries += 1
                if not retrying:  # once per outage, not once per poll
                    log.warning(
                        "live.network_error",
                        exchange=self.connection.name,
                        error=f"{type(exc).__name__}: {str(exc)[:200]}",
                        retry_every_s=self.poll_s,
                    )
                retrying = True

    def _count(self, bar: Bar) -> None:
        report = self.report
        close_time = bar[2]
        report.candles += 1
        if report.switched_at is not None and close_time <= report.switched_at:
            report.caught_up += 1
        if report.first_close is None:
            report.first_close = close_time
        report.last_close = close_time
        self.candles.append(bar)

    def _wait(self, seconds: float) -> None:
        """Idle until the next poll: run the jobs due by wall time, keep the day's candles."""
        with self._ctrl_c.busy():
            now = self.clock.now()
            self.scheduler.run_due(now)
            if now - self._kept_at >= self.keep_every_ms:
                self._keep_candles()
                self._kept_at = now
        self.connection.sleep(seconds)

    def _keep_candles(self) -> None:
        new, late = self.candles[self._kept :], self.late
        if (new or late) and self.keep is not None:
            self.keep(sorted(new + late, key=lambda bar: bar[1]))  # late ones closed earlier
            self.report.stored += len(new) + len(late)
            self.report.stored_late += len(late)
        self._kept = len(self.candles)
        self.late.clear()  # in place: the source's on_late appends to this list
