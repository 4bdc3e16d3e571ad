"""The backtest composition: the engine on a simulated clock, the simulated exchange, the
portfolio, the order manager and a bar strategy, with transactional checkpoints.

This is the normal replay path; paper trading composes the same parts on the wall clock.
With a store, the runner writes a checkpoint after every candle that changed the account (and
every ``checkpoint_every`` candles otherwise): the replay cursor, a JSON snapshot of all mutable
state, and the new orders, fills, trades, ledger entries and equity points, in one transaction.
Started again with the same run id on the same database, it resumes from the last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import time as _time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from quantum_trader.app.engine import Bar, BarSkipper, Engine
from quantum_trader.app.feeds import ReplayFeed
from quantum_trader.backtester.metrics import Metrics, compute_metrics
from quantum_trader.backtester.strategies.base import BarStrategy, TradingContext
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.clock.clock import Clock, SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.domain.canonical import canonical_bytes
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.orders import Fill, Order
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.time import timeframe_ms
from quantum_trader.execution.columns import CandleColumns
from quantum_trader.execution.instruments import SymbolSpec, spec_for
from quantum_trader.execution.order_manager import OrderManager
from quantum_trader.execution.simulated.exchange import ExchangeConfig, SimulatedExchange
from quantum_trader.execution.simulated.funding import FundingConfig, FundingSchedule
from quantum_trader.execution.store import CheckpointBatch, ExecutionStore
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.status.registry import ModuleHandle, StatusRegistry


@dataclass(frozen=True, slots=True)
class BacktestConfig:
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
            raise ConfigError(f"BacktestConfig.initial_balance={self.initial_balance}: must be > 0")
        if self.checkpoint_every <= 0:
            raise ConfigError(
                f"BacktestConfig.checkpoint_every={self.checkpoint_every}: must be > 0"
            )


@dataclass(frozen=True, slots=True)
class BacktestResult:
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


class _EventLog:
    """A hash chain over every bus event (type, time, source, payload).

    Events are buffered as they come and folded into the digest every ``fold_every`` events,
    so the hot path only appends a tuple. Checkpoints carry the unfolded buffer, so the digest
    does not depend on where checkpoints fell.

    A fold hashes the :func:`canonical_bytes` of ``(key tuples, events)``: each event as
    ``(type, time, source, k, values)``, its payload's values in order and ``k`` the index of
    its payload's keys among the fold's distinct key tuples (in order of first appearance).
    That is the same information as the payload mappings, but each distinct key tuple is
    encoded once per fold instead of with every event (the keys were half the bytes).
    """

    def __init__(self, fold_every: int = 64) -> None:
        self.digest = ""
        self.buffer: list[tuple[str, int, str, tuple[str, ...], tuple[object, ...]]] = []
        self._fold_every = fold_every

    def record(
        self, type: str, time: int, source: str, keys: tuple[str, ...], values: tuple[object, ...]
    ) -> None:
        """The bus recorder (a bound method: cheaper to call than an instance's ``__call__``)."""
        self.buffer.append((type, time, source, keys, values))
        if len(self.buffer) >= self._fold_every:
            self.fold()

    def fold(self) -> None:
        if self.buffer:
            schemas: dict[tuple[str, ...], int] = {}
            events = [
                (t, time, src, schemas.setdefault(keys, len(schemas)), values)
                for t, time, src, keys, values in self.buffer
            ]
            chain = hashlib.sha256(self.digest.encode() + b"\n")
            chain.update(canonical_bytes((list(schemas), events)))
            self.digest = chain.hexdigest()
            self.buffer = []

    def final(self) -> str:
        self.fold()
        return self.digest


def _buffered_event(raw: list[Any]) -> tuple[str, int, str, tuple[str, ...], tuple[object, ...]]:
    """An unfolded event from a checkpoint: ``[type, time, source, keys, values]``, or (written
    before 2026-12-02) ``[type, time, source, [[key, value], ...]]``."""
    if len(raw) == 4:
        pairs = raw[3]
        return raw[0], int(raw[1]), raw[2], tuple(k for k, _ in pairs), tuple(v for _, v in pairs)
    return raw[0], int(raw[1]), raw[2], tuple(raw[3]), tuple(raw[4])


def default_run_id(fingerprint: Mapping[str, Any]) -> str:
    """A run id derived from the inputs, so re-running the same command resumes the same run."""
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    return "bt-" + hashlib.sha256(text.encode()).hexdigest()[:12]


class BacktestRunner:
    """Replays candle frames through the engine; see the module docstring."""

    def __init__(
        self,
        config: BacktestConfig,
        frames: Mapping[str, pd.DataFrame],
        strategy: BarStrategy,
        *,
        funding_rates: Mapping[str, Sequence[FundingRate]] | None = None,
        specs: Mapping[str, SymbolSpec] | None = None,
        store: ExecutionStore | None = None,
        status: StatusRegistry | None = None,
        clock: Clock | None = None,
        source: BarSource | None = None,
        bus: InProcessBus | None = None,
        scheduler: Scheduler | None = None,
        market_data: ModuleHandle | None = None,
        then: BarSource | None = None,
    ) -> None:
        """``clock`` and ``source`` make this a paper session: the same parts on a wall clock,
        fed by ``source(last_close_by_symbol)`` instead of the replay of ``frames`` (which then
        only serve the symbol rules). By default: the simulated clock and the frames' replay.
        ``then`` continues the same session after the replay: ``then(last_close_by_symbol)``
        feeds the engine more candles (the main job's live phase, which also switches the
        clock to wall time); one result covers both.
        ``bus``, ``scheduler`` and ``market_data`` let a composition root share its own with
        the modules it wires around the runner (the main job does)."""
        self.config = config
        #: see ``BacktestConfig.commit_on_change``; a run may switch it on (replay, then live)
        self.commit_on_change = config.commit_on_change
        self.strategy = strategy
        self.feed = ReplayFeed(frames, config.timeframe)
        self.specs = (
            dict(specs)
            if specs
            else {s: spec_for(s, f["close"].head(2000).tolist()) for s, f in frames.items()}
        )
        self.first_open = min(int(f["open_time"].iloc[0]) for f in frames.values())
        fingerprint = {
            "symbols": sorted(frames),
            "timeframe": config.timeframe,
            "rows": {
                s: [len(f), int(f["open_time"].iloc[0]), int(f["open_time"].iloc[-1])]
                for s, f in sorted(frames.items())
            }
            if source is None
            else "live",
            "config": {
                k: v
                for k, v in asdict(config).items()
                if k not in ("run_id", "throttle_s", "fast_forward", "commit_on_change")
            }
            | {"run_id": "", "throttle_s": 0.0},
            "strategy": strategy.name,
            "strategy_config": repr(getattr(strategy, "config", "")),
        }
        self.fingerprint = hashlib.sha256(
            json.dumps(fingerprint, sort_keys=True, default=str).encode()
        ).hexdigest()
        self.run_id = config.run_id or default_run_id(fingerprint)
        self.store = store
        self.clock: Clock = clock if clock is not None else SimulatedClock(self.first_open)
        self.source = source
        self.then = then
        self.bus = bus if bus is not None else InProcessBus(self.clock, self.run_id)
        self.event_log = _EventLog()
        self.bus.recorders.append(self.event_log.record)
        self._handles = self._register(status)
        self.portfolio = Portfolio(self.run_id)
        self.exchange = SimulatedExchange(
            self.specs,
            self.portfolio,
            FundingSchedule(config.funding, dict(funding_rates or {})),
            config.exchange,
        )
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
            scheduler if scheduler is not None else Scheduler(),
            market_data,
            publish_candles=config.publish_candles,
        )
        self.strategy.bind(TradingContext(self.orders, self.portfolio))
        self.cursor = 0
        self.resumed_from = 0
        self._last_commit = 0
        self._equity_committed = 0
        self._stored_trades: list[Trade] = []
        self._stored_fills: list[Fill] = []

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

    # ------------------------------------------------------------------ resume
    def _restore(self) -> bool:
        """Load the last checkpoint of this run id; True when the run had already finished."""
        stored = self.store.load(self.run_id) if self.store is not None else None
        if stored is None:
            self.portfolio.deposit(self.config.initial_balance, self.first_open, "initial balance")
            return False
        state = json.loads(stored.state_json)
        if state["fingerprint"] != self.fingerprint:
            raise ConfigError(
                f"run {self.run_id} exists in the database with different inputs or settings; "
                "use another run id"
            )
        self.portfolio.ledger.load(stored.ledger)
        self.portfolio.restore(state["portfolio"])
        self.portfolio.equity_times = [t for t, _ in stored.equity]
        self.portfolio.equity_values = [e for _, e in stored.equity]
        self._equity_committed = len(stored.equity)
        if state["equity_tail"] is not None:
            self.portfolio.equity_times.append(int(state["equity_tail"][0]))
            self.portfolio.equity_values.append(float(state["equity_tail"][1]))
        self.exchange.restore(state["exchange"], stored.orders)
        self.orders.restore(state["orders"], stored.orders)
        self.strategy.restore(state["strategy"])
        self.event_log.digest = state["event_hash"]
        self.event_log.buffer = [_buffered_event(raw) for raw in state["event_buffer"]]
        self.engine.resume_from({k: int(v) for k, v in state["last_close"].items()})
        if isinstance(self.clock, SimulatedClock):
            self.clock.advance_to(stored.last_time)
        self._stored_trades = stored.trades
        self._stored_fills = stored.fills
        self.cursor = self.resumed_from = self._last_commit = stored.cursor
        return stored.finished

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint_bar(
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
        self.cursor += 1
        if self.cursor - self._last_commit >= self.config.checkpoint_every or (
            self.commit_on_change
            and (self.portfolio.ledger.has_pending or self.orders.pending_orders)
        ):
            self._commit(finished=False)

    def _commit(self, *, finished: bool) -> None:
        if self.store is None:
            return
        orders, fills = self.orders.drain()
        trades = self.portfolio.pending_trades
        self.portfolio.pending_trades = []
        ledger = self.portfolio.ledger.drain_pending()
        times, values = self.portfolio.equity_times, self.portfolio.equity_values
        upto = len(times) if finished else max(len(times) - 1, self._equity_committed)
        equity = list(
            zip(
                times[self._equity_committed : upto],
                values[self._equity_committed : upto],
                strict=True,
            )
        )
        self._equity_committed = upto
        state = {
            "fingerprint": self.fingerprint,
            "portfolio": self.portfolio.snapshot(),
            "exchange": self.exchange.snapshot(),
            "orders": self.orders.snapshot(),
            "strategy": self.strategy.state(),
            "event_hash": self.event_log.digest,
            # payload keys and values as lists: the snapshot's JSON sorts dict keys
            "event_buffer": [
                [t, time, src, list(keys), list(values)]
                for t, time, src, keys, values in self.event_log.buffer
            ],
            "last_close": self.engine.last_close,
            # the latest equity point may still change (another symbol closing at the same
            # time); it travels in the snapshot until a later time completes it
            "equity_tail": [times[upto], values[upto]] if upto < len(times) else None,
        }
        self.store.commit(
            CheckpointBatch(
                run_id=self.run_id,
                cursor=self.cursor,
                last_time=self.clock.now(),
                finished=finished,
                state_json=json.dumps(state, sort_keys=True, separators=(",", ":")),
                orders=orders,
                fills=fills,
                trades=trades,
                ledger=ledger,
                equity=equity,
            )
        )
        self._last_commit = self.cursor
        handle = self._handles.get("portfolio")
        if handle is not None and ledger:
            handle.count("ledger_entries", len(ledger))

    def quiet_until(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> int:
        """Fast-forward side of the checkpointer: the candle that reaches the regular
        checkpoint interval is processed one by one (so it commits there)."""
        if self.commit_on_change and (
            self.portfolio.ledger.has_pending or self.orders.pending_orders
        ):
            return start
        due = start + self.config.checkpoint_every - (self.cursor - self._last_commit) - 1
        return max(start, min(stop, due))

    def skip_bars(self, symbol: str, bars: CandleColumns, start: int, stop: int) -> None:
        self.cursor += stop - start

    # ------------------------------------------------------------------ run
    def run(
        self, progress: Callable[[int], None] | None = None, progress_every: int = 1024
    ) -> BacktestResult:
        started = _time.perf_counter()
        finished = self._restore()
        session_trades: list[Trade] = []
        self.portfolio.trade_listeners.append(session_trades.append)
        if not finished:
            engine = self.engine
            engine.on_bar(self.exchange.on_bar, skipper=self.exchange)
            engine.on_bar(self.portfolio.on_bar, skipper=self.portfolio)
            strategy_skipper = self.strategy if isinstance(self.strategy, BarSkipper) else None
            engine.on_bar(self.strategy.on_bar, skipper=strategy_skipper)
            if self.store is not None:
                engine.on_bar(self._checkpoint_bar, skipper=self)
            if self.config.throttle_s > 0:
                engine.on_bar(self._throttle)
            if progress is not None and self.resumed_from:
                progress(self.resumed_from)
            if self.source is None and len(self.feed.symbols) == 1:
                engine.run_columns(
                    self.feed.columns(self.feed.symbols[0]),
                    self.cursor,
                    fast_forward=self.config.fast_forward,
                    progress=progress,
                    progress_every=progress_every,
                )
            else:
                bars = (
                    self.feed.bars(self.cursor)
                    if self.source is None
                    else self.source(self.engine.last_close)
                )
                engine.run_bars(bars, progress=progress, progress_every=progress_every)
            if self.then is not None:
                # candles now come one by one as they close: report each, and persist every
                # order, fill and ledger change at once, as a paper session does
                self.commit_on_change = True
                engine.run_bars(self.then(engine.last_close), progress=progress, progress_every=1)
            if self.store is None:
                self.cursor = self.resumed_from + engine.stats.candles
            self._commit(finished=True)
        self._count_status()
        trades = self._stored_trades + session_trades
        fills = self._stored_fills + self.orders.fill_log
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
        )
        return BacktestResult(
            run_id=self.run_id,
            metrics=metrics,
            trades=trades,
            equity_times=list(p.equity_times),
            equity_values=list(p.equity_values),
            ledger_digest=p.ledger.digest,
            event_log_hash=self.event_log.final(),
            candles=self.engine.stats.candles,
            resumed_from=self.resumed_from,
            elapsed_s=_time.perf_counter() - started,
            fills=fills,
            orders=list(self.orders.orders.values()),
        )

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
