"""The trading session: the engine on a clock, a venue, the portfolio, the order manager and a
trader, with transactional checkpoints (``engine/checkpoint.py``).

Backtest, paper and live are all sessions: a replay of candle frames on the simulated clock, or
closed candles from a live source on the wall clock (or the one, then the other). The venue is
a port: the simulated exchange by default, built from the session's config. With a store, the
session writes a checkpoint after every candle that changed the account (and every
``checkpoint_every`` candles otherwise); started again with the same run id on the same
database, it resumes from the last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import time as _time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import pandas as pd

from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.bus.port import RecordingBus
from quantum_trader.clock.clock import Clock, SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.orders import Fill, Order
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.time import timeframe_ms
from quantum_trader.engine.checkpoint import Checkpointer, EventLog, SessionParts
from quantum_trader.engine.engine import Bar, BarHandler, BarSkipper, Engine
from quantum_trader.engine.feeds import ReplayFeed
from quantum_trader.engine.metrics import Metrics, compute_metrics
from quantum_trader.engine.trader import Trader, TradingContext
from quantum_trader.execution.instruments import SymbolSpec, spec_for
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.execution.simulated.exchange import ExchangeConfig, SimulatedExchange
from quantum_trader.execution.simulated.funding import FundingConfig, FundingSchedule
from quantum_trader.execution.store import ExecutionStore
from quantum_trader.execution.venue import Venue
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.status.registry import ModuleHandle, StatusRegistry


@dataclass(frozen=True, slots=True)
class SessionConfig:
    timeframe: str
    initial_balance: float = 10_000.0
    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    funding: FundingConfig = field(default_factory=FundingConfig)
    run_id: str = ""
    checkpoint_every: int = 1000
    publish_candles: bool = False
    throttle_s: float = 0.0  # sleep per candle: paced replays (demos, crash-resume tests)
    #: hand quiet candles over in bulk (``Engine.run_columns``); same results, not in the run id
    fast_forward: bool = True
    #: commit at every order, fill or ledger change, so a restart resumes exactly where the
    #: crash happened (paper, live, resumable backtests). False commits every
    #: ``checkpoint_every`` candles and at the end only: for a replay that cannot resume mid-way
    #: anyway (the AI pipeline refuses to) and is run again instead. Not in the run id.
    commit_on_change: bool = True

    def __post_init__(self) -> None:
        timeframe_ms(self.timeframe)
        if self.initial_balance <= 0:
            raise ConfigError(f"SessionConfig.initial_balance={self.initial_balance}: must be > 0")
        if self.checkpoint_every <= 0:
            raise ConfigError(
                f"SessionConfig.checkpoint_every={self.checkpoint_every}: must be > 0"
            )


@dataclass(frozen=True, slots=True)
class SessionResult:
    run_id: str
    metrics: Metrics
    trades: list[Trade]
    equity_times: list[int]
    equity_values: list[float]
    ledger_digest: str
    event_log_hash: str
    candles: int
    resumed_from: int
    elapsed_s: float
    fills: list[Fill] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)


#: A live candle source: given the last close time per symbol (empty on a fresh start), the
#: closed candles after them, as they close.
BarSource = Callable[[Mapping[str, int]], Iterable[Bar]]


def default_run_id(fingerprint: Mapping[str, Any]) -> str:
    """A run id derived from the inputs, so re-running the same command resumes the same run."""
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    return "bt-" + hashlib.sha256(text.encode()).hexdigest()[:12]


class SessionVenue(Venue, BarSkipper, Protocol):
    """What a session needs from its venue beyond the order port: each candle (fills, funding,
    liquidation at its prices; fast-forward over quiet stretches) and a checkpointed state."""

    @property
    def funding_payments(self) -> int: ...

    def on_bar(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None: ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, snap: Mapping[str, Any], known: Mapping[str, Order]) -> None: ...


#: Builds the session's venue on its account book (the portfolio the venue's fills go to).
VenueFactory = Callable[[Portfolio], SessionVenue]


def simulated_venue(
    specs: Mapping[str, SymbolSpec],
    funding_rates: Mapping[str, Sequence[FundingRate]] | None,
    config: SessionConfig,
) -> VenueFactory:
    """The simulated USDT-M exchange (fills, fees, slippage, funding, liquidation)."""

    def build(portfolio: Portfolio) -> SessionVenue:
        return SimulatedExchange(
            specs,
            portfolio,
            FundingSchedule(config.funding, dict(funding_rates or {})),
            config.exchange,
        )

    return build


class TradingSession:
    """Replays candle frames (or runs live candles) through the engine; see the module
    docstring.

    ``clock`` and ``source`` make this a paper session: the same parts on a wall clock, fed by
    ``source(last_close_by_symbol)`` instead of the replay of ``frames`` (which then only serve
    the symbol rules). By default: the simulated clock and the frames' replay. ``then``
    continues the same session after the replay: ``then(last_close_by_symbol)`` feeds the
    engine more candles (the main job's live phase, which also switches the clock to wall
    time); one result covers both. ``bus``, ``scheduler`` and ``market_data`` let a
    composition root share its own with the modules it wires around the session (the main job
    does). ``venue`` builds the venue (default: the simulated exchange from ``config``).
    ``before_commit`` runs before each checkpoint is written (``Checkpointer``).
    """

    def __init__(
        self,
        config: SessionConfig,
        frames: Mapping[str, pd.DataFrame],
        trader: Trader,
        *,
        funding_rates: Mapping[str, Sequence[FundingRate]] | None = None,
        specs: Mapping[str, SymbolSpec] | None = None,
        store: ExecutionStore | None = None,
        status: StatusRegistry | None = None,
        clock: Clock | None = None,
        source: BarSource | None = None,
        bus: RecordingBus | None = None,
        scheduler: Scheduler | None = None,
        market_data: ModuleHandle | None = None,
        then: BarSource | None = None,
        venue: VenueFactory | None = None,
        before_commit: Callable[[], None] | None = None,
        pause: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> None:
        self.config = config
        self.pause = pause  # held around a paced or live decision (:meth:`_decide`)
        self._paced = config.throttle_s > 0
        self.trader = trader
        self.feed = ReplayFeed(frames, config.timeframe)
        self.specs = dict(specs) if specs else specs_from(frames)
        self.first_open = min(int(f["open_time"].iloc[0]) for f in frames.values())
        self.fingerprint, self.run_id = _identity(config, frames, trader, live=source is not None)
        self.store = store
        self.clock: Clock = clock if clock is not None else SimulatedClock(self.first_open)
        self.source = source
        self.then = then
        self.bus: RecordingBus = bus if bus is not None else InProcessBus(self.clock, self.run_id)
        self.event_log = EventLog()
        self.bus.add_recorder(self.event_log.record)
        self._handles = self._register(status)
        self.portfolio = Portfolio(self.run_id)
        build_venue = venue or simulated_venue(self.specs, funding_rates, config)
        self.exchange = build_venue(self.portfolio)
        self.orders = OrderManager(
            self.exchange,
            self.specs,
            self.clock,
            self.bus,
            self.run_id,
            mark=self.portfolio.mark_price,
            status=self._handles.get("execution"),
        )
        self.portfolio.trade_listeners.append(self.orders.on_trade_closed)
        self.engine = Engine(
            self.clock,
            self.bus,
            scheduler if scheduler is not None else Scheduler(self.clock),
            market_data,
            publish_candles=config.publish_candles,
        )
        self.trader.bind(TradingContext(self.orders, self.portfolio))
        #: handlers fed each candle after the trader decided on it (shadow trading)
        self._followers: list[tuple[BarHandler, BarSkipper | None]] = []
        self.checkpoints = self._checkpointer(store, before_commit)

    def _checkpointer(
        self, store: ExecutionStore | None, before_commit: Callable[[], None] | None
    ) -> Checkpointer:
        parts = SessionParts(
            self.portfolio,
            self.exchange,
            self.orders,
            self.trader,
            self.engine,
            self.clock,
            self.event_log,
        )
        return Checkpointer(
            store,
            self.run_id,
            self.fingerprint,
            parts,
            every=self.config.checkpoint_every,
            commit_on_change=self.config.commit_on_change,
            ledger_handle=self._handles.get("portfolio"),
            before_commit=before_commit,
        )

    def _register(self, status: StatusRegistry | None) -> dict[str, ModuleHandle]:
        if status is None:
            return {}
        handles = {}
        for name, why in (
            ("execution", "simulated USDT-M exchange and order manager"),
            ("portfolio", "isolated-margin account book with a persisted ledger"),
            ("backtester", f"candle replay through the engine ({self.config.timeframe})"),
        ):
            handles[name] = (
                status.get(name)
                if name in status
                else status.register(name, enabled=True, reason=why)
            )
        return handles

    def follow(self, handler: BarHandler, skipper: BarSkipper | None = None) -> None:
        """Feed ``handler`` every candle after the trader has acted on it (before the
        checkpoint): what it does is not part of the trader's decision or its latency.
        ``skipper``: its fast-forward side (none: every candle goes one by one)."""
        self._followers.append((handler, skipper))

    @property
    def resumed_from(self) -> int:
        return self.checkpoints.resumed_from

    # ------------------------------------------------------------------ run
    def run(
        self, progress: Callable[[int], None] | None = None, progress_every: int = 1024
    ) -> SessionResult:
        started = _time.perf_counter()
        checkpoints = self.checkpoints
        session_trades: list[Trade] = []
        self.portfolio.trade_listeners.append(session_trades.append)
        finished = self.start()
        if not finished:
            if progress is not None and checkpoints.resumed_from:
                progress(checkpoints.resumed_from)
            self._run_candles(progress, progress_every)
            if self.store is None:
                checkpoints.cursor = checkpoints.resumed_from + self.engine.stats.candles
            checkpoints.commit(finished=True)
        self._count_status()
        return self._result(started, checkpoints.stored_trades + session_trades)

    def start(self) -> bool:
        """Restore the last checkpoint (or deposit the initial balance) and register the bar
        handlers; True when the run had already finished. :meth:`run` begins with it; an owner
        that feeds the engine itself, candle by candle (``engine.process_bar``: the RL
        environment, ``rl/env.py``), calls it once instead of :meth:`run`."""
        finished = self.checkpoints.restore(self.config.initial_balance, self.first_open)
        if not finished:
            self._register_handlers()
        return finished

    def _register_handlers(self) -> None:
        engine = self.engine
        engine.on_bar(self.exchange.on_bar, skipper=self.exchange)
        engine.on_bar(self.portfolio.on_bar, skipper=self.portfolio)
        trader_skipper = self.trader if isinstance(self.trader, BarSkipper) else None
        engine.on_bar(self._decide(self.trader.on_bar), skipper=trader_skipper)
        for follower, skipper in self._followers:
            engine.on_bar(follower, skipper=skipper)
        if self.store is not None:
            engine.on_bar(self.checkpoints.on_bar, skipper=self.checkpoints)
        if self.config.throttle_s > 0:
            engine.on_bar(self._throttle)

    def _run_candles(self, progress: Callable[[int], None] | None, progress_every: int) -> None:
        engine, cursor = self.engine, self.checkpoints.cursor
        if self.source is None and len(self.feed.symbols) == 1:
            engine.run_columns(
                self.feed.columns(self.feed.symbols[0]),
                cursor,
                fast_forward=self.config.fast_forward,
                progress=progress,
                progress_every=progress_every,
            )
        else:
            bars = self.feed.bars(cursor) if self.source is None else self.source(engine.last_close)
            engine.run_bars(bars, progress=progress, progress_every=progress_every)
        if self.then is not None:
            # candles now come one by one as they close: report each, and persist every
            # order, fill and ledger change at once, as a paper session does
            self.checkpoints.commit_on_change = True
            self._paced = True
            engine.run_bars(self.then(engine.last_close), progress=progress, progress_every=1)

    def _result(self, started: float, trades: list[Trade]) -> SessionResult:
        p = self.portfolio
        metrics = compute_metrics(
            p.equity_times,
            p.equity_values,
            trades,
            initial_equity=self.config.initial_balance,
            fees_paid=p.fees_paid,
            funding_paid=p.funding_paid,
            exposed_points=p.exposed_points,
            liquidations=p.liquidations,
            timeframe=self.config.timeframe,
        )
        return SessionResult(
            run_id=self.run_id,
            metrics=metrics,
            trades=trades,
            equity_times=list(p.equity_times),
            equity_values=list(p.equity_values),
            ledger_digest=p.ledger.digest,
            event_log_hash=self.event_log.final(),
            candles=self.engine.stats.candles,
            resumed_from=self.checkpoints.resumed_from,
            elapsed_s=_time.perf_counter() - started,
            fills=self.checkpoints.stored_fills + self.orders.fill_log,
            orders=list(self.orders.orders.values()),
        )

    def _decide(self, decide: BarHandler) -> BarHandler:
        """The trader's handler, inside :attr:`pause` (the training workers stopped,
        ``clock/pause.py``) while candles come paced or live. A
        replay back to back decides bare: it waits for its trainings, which a pause at every
        candle would starve."""
        pause = self.pause
        if pause is None:
            return decide

        def paused(
            symbol: str, open_time: int, close_time: int, o: float, h: float, lo: float,
            c: float, v: float,
        ) -> None:  # fmt: skip
            if not self._paced:
                decide(symbol, open_time, close_time, o, h, lo, c, v)
                return
            with pause():
                decide(symbol, open_time, close_time, o, h, lo, c, v)

        return paused

    def _throttle(
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
        _time.sleep(self.config.throttle_s)

    def _count_status(self) -> None:
        h = self._handles
        if not h:
            return
        p = self.portfolio
        h["portfolio"].count("funding_payments", self.exchange.funding_payments)
        h["portfolio"].count("liquidations", p.liquidations)
        if self.store is None:
            h["portfolio"].count("ledger_entries", len(p.ledger))
        h["backtester"].count("candles_replayed", self.engine.stats.candles)
        h["backtester"].count("runs")


def _identity(
    config: SessionConfig, frames: Mapping[str, pd.DataFrame], trader: Trader, *, live: bool
) -> tuple[str, str]:
    """The session's fingerprint (what it replays, how) and its run id (the config's, else
    one derived from the fingerprint)."""
    fingerprint = _fingerprint(config, frames, trader, live=live)
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode())
    return digest.hexdigest(), config.run_id or default_run_id(fingerprint)


def specs_from(frames: Mapping[str, pd.DataFrame]) -> dict[str, SymbolSpec]:
    """Each symbol's trading rules, from its first closes when none are given."""
    return {s: spec_for(s, f["close"].head(2000).tolist()) for s, f in frames.items()}


def _fingerprint(
    config: SessionConfig, frames: Mapping[str, pd.DataFrame], trader: Trader, *, live: bool
) -> dict[str, Any]:
    """The session's inputs and settings: the run id (and the resume check) derive from it."""
    return {
        "symbols": sorted(frames),
        "timeframe": config.timeframe,
        "rows": "live"
        if live
        else {
            s: [len(f), int(f["open_time"].iloc[0]), int(f["open_time"].iloc[-1])]
            for s, f in sorted(frames.items())
        },
        "config": {
            k: v
            for k, v in asdict(config).items()
            if k not in ("run_id", "throttle_s", "fast_forward", "commit_on_change")
        }
        | {"run_id": "", "throttle_s": 0.0},
        "strategy": trader.name,
        "strategy_config": repr(getattr(trader, "config", "")),
    }
