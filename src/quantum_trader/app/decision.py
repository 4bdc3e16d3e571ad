"""The decision pipeline: everything that happens on one closed candle of one symbol.

candle → features (and the history window) → each member's vote → covariate-shift check,
memory and reinforcement weights → ensemble signal (consensus) → regime → strategy chosen by
the selector → trade intent → size → risk engine → order. Realised labels flow back into the
intelligence modules when their horizon has passed on the engine clock; closed trades flow to
the risk engine and the meta strategy controller through ``execution.trade.closed``.

It is a :class:`~quantum_trader.engine.trader.Trader`, so the same object
trades a replay (backtest, the main job) and the wall clock (paper, live) through the same
runner, exchange and portfolio.
"""

from __future__ import annotations

import copy
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.market import Candle, FundingRate
from quantum_trader.domain.orders import OrderType
from quantum_trader.domain.signals import Signal
from quantum_trader.domain.time import timeframe_ms
from quantum_trader.engine.engine import Bar
from quantum_trader.engine.trader import TradingContext
from quantum_trader.execution.order_manager import Bracket
from quantum_trader.features.labels import LabelSpec, classify_return
from quantum_trader.features.pipeline import StreamingFeatures
from quantum_trader.intelligence.ledger import horizon_end_time
from quantum_trader.intelligence.service import Intelligence
from quantum_trader.models.ensemble.ensemble import Ensemble
from quantum_trader.models.ensemble.member import VoteContext
from quantum_trader.models.ensemble.weights import Weighting
from quantum_trader.risk.decision import Outcome
from quantum_trader.risk.engine import RiskEngine, approved_intent
from quantum_trader.risk.policy_source import PolicySource
from quantum_trader.risk.portfolio_view import OpenPosition
from quantum_trader.status.registry import ModuleHandle
from quantum_trader.strategy.intents import TradeAction
from quantum_trader.strategy.market_state import MarketStateTracker
from quantum_trader.strategy.meta_controller import MetaStrategyController
from quantum_trader.strategy.regime import RegimeDetector
from quantum_trader.strategy.selector import SelectionContext, StrategySelector
from quantum_trader.strategy.sizing import PositionSizer, SizingRequest, to_order_intent
from quantum_trader.strategy.strategies.base import Strategy

PIPELINE_NAME = "ai_ensemble"
#: decisions per symbol whose inputs :meth:`DecisionPipeline.prepare_replay` votes on at once
PREPARE_CHUNK = 256
#: the interpreter's thread switch interval while the batch votes' worker runs (see there)
BATCH_SWITCH_INTERVAL_S = 0.0001


class IntelligenceWeights:
    """The ensemble's weight port, driven by the intelligence modules on the engine clock."""

    def __init__(self, intelligence: Intelligence, now: Callable[[], int]) -> None:
        self._intelligence = intelligence
        self._now = now

    def weights(self, symbol: str, models: Sequence[str]) -> Weighting:
        if not models:  # every member abstained (warm-up): nothing to weigh
            return Weighting({})
        weights, changes = self._intelligence.weights(symbol, models, self._now())
        return Weighting(weights, tuple(changes))


class PortfolioRiskView:
    """The risk engine's read-only view over the portfolio and the latest candles."""

    def __init__(self, context: TradingContext) -> None:
        self._portfolio = context.portfolio
        self.last_close: dict[str, int] = {}

    def equity(self) -> float:
        return self._portfolio.equity

    def peak_equity(self) -> float:
        return self._portfolio.peak_equity

    def daily_pnl(self) -> float:
        return self._portfolio.daily_pnl

    def open_positions(self) -> Mapping[str, OpenPosition]:
        return {
            s: OpenPosition(p.quantity, p.entry_price)
            for s, p in self._portfolio.positions().items()
            if p.quantity != 0
        }

    def mark_price(self, symbol: str) -> float | None:
        return self._portfolio.mark_prices().get(symbol)

    def last_candle_close_time(self, symbol: str) -> int | None:
        return self.last_close.get(symbol)


@dataclass
class PipelineParts:
    """The modules the pipeline drives; built by the composition root once the runner exists
    (several of them publish on its bus and read its clock)."""

    ensembles: Mapping[str, Ensemble]  # one per symbol: tree models are trained per symbol
    intelligence: Intelligence | None
    regime: RegimeDetector | None
    controller: MetaStrategyController | None
    selector: StrategySelector
    strategies: Mapping[str, Strategy]
    sizer: PositionSizer
    risk: RiskEngine
    policy: PolicySource
    risk_view: PortfolioRiskView
    handles: Mapping[str, ModuleHandle] = field(default_factory=dict)


PartsFactory = Callable[[TradingContext], PipelineParts]


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    timeframe: str
    labels: LabelSpec = field(default_factory=LabelSpec)
    window: int = 168  # history the forecasting members read (closes)
    shift_window: int = 168  # live feature rows compared with the training reference
    cross_asset: str = "BTCUSDT"


class _SymbolState:
    """What the pipeline keeps per symbol: feature state, indicators, history for labels."""

    def __init__(self, symbol: str, config: PipelineConfig, funding: Sequence[FundingRate]):
        self.features = StreamingFeatures(symbol, config.timeframe)
        self.tracker = MarketStateTracker(symbol)
        self.funding = sorted(funding, key=lambda f: f.funding_time)
        self.funding_next = 0
        self.window: deque[float] = deque(maxlen=config.window)
        self.closes: dict[int, float] = {}  # open time → close, for realised labels
        self.rows: deque[np.ndarray] = deque(maxlen=config.shift_window)
        self.working_order: str | None = None  # the last market order sent, until it is done

    def fork_inputs(self) -> _SymbolState:
        """A copy whose member inputs (features, funding cursor, window) evolve on their own;
        what only decisions use (labels, shift rows, orders) is left empty."""
        twin = copy.copy(self)  # shares the funding list and the tracker (never updated here)
        twin.features = copy.deepcopy(self.features)
        twin.window = deque(self.window, maxlen=self.window.maxlen)
        twin.closes = {}
        twin.rows = deque(maxlen=self.rows.maxlen)
        twin.working_order = None
        return twin

    def settled_funding(self, close_time: int) -> list[FundingRate]:
        """Funding settlements known at ``close_time`` and not yet fed to the features."""
        out = []
        items, i = self.funding, self.funding_next
        while i < len(items) and items[i].funding_time < close_time:
            out.append(items[i])
            i += 1
        self.funding_next = i
        return out


@dataclass
class PipelineStats:
    decisions: int = 0
    signals: dict[str, int] = field(default_factory=dict)
    intents: int = 0
    orders: int = 0
    risk: dict[str, int] = field(default_factory=dict)
    strategies: dict[str, int] = field(default_factory=dict)
    last_regimes: dict[str, str] = field(default_factory=dict)


class DecisionPipeline:
    """The AI strategy: the whole decision path on every closed candle (see module docstring)."""

    name = PIPELINE_NAME

    def __init__(
        self,
        config: PipelineConfig,
        build: PartsFactory,
        *,
        symbols: Sequence[str],
        funding: Mapping[str, Sequence[FundingRate]] | None = None,
    ) -> None:
        self.config = config
        self._build = build
        self._tf_ms = timeframe_ms(config.timeframe)
        funding = funding or {}
        self._symbols = {s: _SymbolState(s, config, funding.get(s, ())) for s in symbols}
        self._market_candle: Candle | None = None
        self.parts: PipelineParts | None = None
        self._context: TradingContext | None = None
        self.stats = PipelineStats()
        #: when a list, every decision's latency (ns, candle in → order out) is appended (bench)
        self.latencies_ns: list[int] | None = None
        self._batch_pool: ThreadPoolExecutor | None = None  # prepare_replay's worker
        self._vote_pool: ThreadPoolExecutor | None = None  # the live votes' worker (bind)
        self._switch_interval: float | None = None  # the interpreter's, while batch votes run

    def warm_up(self, history: Mapping[str, Any]) -> int:
        """Backfill indicator state from candles *before* the first decision, as a live engine
        does at start: features, market state, regime and the forecast window see them; no
        member votes, nothing is learned, nothing is traded. ``history`` maps a symbol to a
        frame (open_time, open, high, low, close, volume) that ends before the replay starts.
        Returns the candles used."""
        parts = self.parts
        if parts is None:
            raise RuntimeError("DecisionPipeline.warm_up before bind()")
        rows: list[tuple[int, str, Any]] = []
        for symbol, frame in history.items():
            if symbol not in self._symbols:
                continue
            cols = ("open_time", "open", "high", "low", "close", "volume")
            rows.extend((int(r[0]), symbol, r) for r in frame[list(cols)].itertuples(index=False))
        rows.sort(key=lambda item: (item[0], item[1] != self.config.cross_asset, item[1]))
        for _, symbol, r in rows:
            sym = self._symbols[symbol]
            candle = Candle(symbol, self.config.timeframe, int(r[0]), *map(float, r[1:]))
            row = self._inputs(sym, candle, candle.open_time + self._tf_ms).features
            assert row is not None
            if not np.isnan(row).any():
                sym.rows.append(row.copy())
            sym.closes[candle.open_time] = candle.close
            reading = parts.regime.update(candle) if parts.regime is not None else None
            sym.tracker.update(
                candle,
                reading.regime if reading is not None else None,
                reading.vol_percentile if reading is not None else 0.5,
            )
        return len(rows)

    # --- Trader ---------------------------------------------------------------------
    def bind(self, context: TradingContext) -> None:
        self._context = context
        self.parts = self._build(context)
        # one worker thread takes each decision's slowest live vote (Ensemble.offload_to)
        self._vote_pool = ThreadPoolExecutor(1, thread_name_prefix="member-votes")
        for ensemble in self.parts.ensembles.values():
            ensemble.offload_to(self._vote_pool)

    def state(self) -> dict[str, Any]:
        return {"decisions": self.stats.decisions}

    def restore(self, state: Mapping[str, Any]) -> None:
        # The feature, indicator and ledger states are not in the checkpoint: resuming would
        # trade on cold indicators. Refuse rather than trade differently from the first run.
        raise ConfigError(
            f"the {PIPELINE_NAME} pipeline cannot resume a run mid-way "
            f"(checkpoint after {state.get('decisions', '?')} decisions): start a new run"
        )

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
    ) -> None:
        parts, context = self.parts, self._context
        if parts is None or context is None:
            raise RuntimeError("DecisionPipeline.on_bar before bind()")
        sym = self._symbols.get(symbol)
        if sym is None:
            return  # a symbol the runner replays for context only
        started = time.perf_counter_ns() if self.latencies_ns is not None else 0
        candle = Candle(symbol, self.config.timeframe, open_time, o, h, lo, c, v)
        parts.risk_view.last_close[symbol] = close_time
        self._learn(symbol, sym, candle, close_time, parts)
        signal = self._signal(symbol, sym, candle, close_time, parts)
        self._act(symbol, sym, candle, signal, parts, context)
        if self.latencies_ns is not None:
            self.latencies_ns.append(time.perf_counter_ns() - started)

    # --- steps ---------------------------------------------------------------------------
    def _learn(
        self, symbol: str, sym: _SymbolState, candle: Candle, now: int, parts: PipelineParts
    ) -> None:
        """Record the close and release the outcomes whose horizon has now passed."""
        sym.closes[candle.open_time] = candle.close
        horizon = self.config.labels.horizon
        stale = candle.open_time - (horizon + 2) * self._tf_ms - 64 * self._tf_ms
        closes = sym.closes  # in time order: the oldest first
        while closes and next(iter(closes)) < stale:
            del closes[next(iter(closes))]
        if parts.intelligence is not None:
            # A label of this symbol needs its close at the horizon, recorded just above in its
            # own call: only this symbol's predictions can have become resolvable here.
            parts.intelligence.resolve(now, self._label, (symbol,))

    def _cross_asset_candle(self, candle: Candle) -> Candle | None:
        """The cross-asset (BTC) candle of the same open time for ``candle``'s features; None
        for BTC itself and when BTC's candle of that time has not been seen. The feed orders
        BTC first among candles closing together (``ReplayFeed``), so it is seen when it exists."""
        if candle.symbol == self.config.cross_asset:
            self._market_candle = candle
            return None
        market = self._market_candle
        if market is not None and market.open_time == candle.open_time:
            return market
        return None

    def _label(self, symbol: str, prediction_time: int) -> int | None:
        sym = self._symbols[symbol]
        start = sym.closes.get(prediction_time)
        end = sym.closes.get(prediction_time + self.config.labels.horizon * self._tf_ms)
        if start is None or end is None:
            return None
        return classify_return(end / start - 1.0, self.config.labels.dead_zone)

    def _signal(
        self, symbol: str, sym: _SymbolState, candle: Candle, now: int, parts: PipelineParts
    ) -> Signal:
        context = self._inputs(sym, candle, now)
        decision = parts.ensembles[symbol].decide(symbol, context)
        row = context.features
        assert row is not None
        self._observe(symbol, sym, candle, row, decision.signal, now, parts)
        self.stats.decisions += 1
        key = decision.signal.direction.value
        self.stats.signals[key] = self.stats.signals.get(key, 0) + 1
        return decision.signal

    def _inputs(self, sym: _SymbolState, candle: Candle, now: int) -> VoteContext:
        """What the members read for ``candle``: its feature row (with the cross-asset candle and
        the funding settled before ``now``) and the window of closes ending with it. The one
        definition, for decisions and for the batch votes of :meth:`prepare_replay`."""
        market = self._cross_asset_candle(candle)
        row = sym.features.update(candle, sym.settled_funding(now) or None, market)
        sym.window.append(candle.close)
        window = (
            np.fromiter(sym.window, dtype=np.float64, count=len(sym.window))
            if len(sym.window) == sym.window.maxlen
            else None
        )
        return VoteContext(time=now, features=row, window=window)

    def prepare_replay(self, bars: Iterable[Bar], *, background: bool = True) -> int:
        """Batch votes for a replay: build every decision's member inputs ahead, on a copy of
        the input state, with the same code as the decisions (:meth:`_inputs`), and let each
        ensemble compute its members' votes in one call per member (:meth:`Ensemble.prepare`).

        ``bars`` are the candles the replay will feed, in the same order. Only inputs are
        built ahead — features and windows of candles up to the one decided on, as live — and
        a prepared vote is used only when the decision's own input equals it, so the replay's
        decisions are the streaming path's (tests/app/test_batch_votes.py). Call it after
        :meth:`warm_up`.

        With ``background`` the members' model calls run on one worker thread while the replay
        goes on (ONNX Runtime and LightGBM release the GIL: a second core does them); each
        decision waits for its own batch if it is not done yet, and the votes are made and
        counted on this thread, so the replay is the same either way. :meth:`close` stops the
        worker. Returns the votes prepared (with ``background``: the contexts handed over).
        """
        parts = self.parts
        if parts is None:
            raise RuntimeError("DecisionPipeline.prepare_replay before bind()")
        self._stop_batch_worker()  # an earlier replay's
        pool = None
        if background:
            pool = self._batch_pool = ThreadPoolExecutor(1, thread_name_prefix="batch-votes")
            # The worker needs the GIL for a moment around each model call; with the default
            # 5 ms switch interval it waits that long for the replay's thread each time and
            # falls behind (replay measured 2,041-2,067/s at 5 ms, 2,228-2,361/s at 0.1 ms).
            # Restored by close().
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(BATCH_SWITCH_INTERVAL_S)
        submit = pool.submit if pool is not None else None
        live, market = self._symbols, self._market_candle
        self._symbols = {s: state.fork_inputs() for s, state in live.items()}
        contexts: dict[str, list[VoteContext]] = {s: [] for s in live}
        prepared = 0
        try:
            for symbol, open_time, close_time, o, h, lo, c, v in bars:
                sym = self._symbols.get(symbol)
                if sym is None:
                    continue
                candle = Candle(symbol, self.config.timeframe, open_time, o, h, lo, c, v)
                pending = contexts[symbol]
                pending.append(self._inputs(sym, candle, close_time))
                if len(pending) == PREPARE_CHUNK:  # hand over a chunk, drop its contexts
                    prepared += parts.ensembles[symbol].prepare(symbol, pending, submit)
                    pending.clear()
        finally:
            self._symbols, self._market_candle = live, market
        return prepared + sum(
            parts.ensembles[s].prepare(s, pending, submit)
            for s, pending in contexts.items()
            if pending
        )

    def close(self) -> None:
        """Stop the worker threads: :meth:`prepare_replay`'s (its unstarted work dropped) and
        the live votes' (the ensembles vote on this thread alone from here on)."""
        self._stop_batch_worker()
        if self._vote_pool is not None:
            if self.parts is not None:
                for ensemble in self.parts.ensembles.values():
                    ensemble.offload_to(None)
            self._vote_pool.shutdown(wait=True)
            self._vote_pool = None

    def _stop_batch_worker(self) -> None:
        """Stop :meth:`prepare_replay`'s worker and give the interpreter its switch interval
        back."""
        if self._batch_pool is not None:
            self._batch_pool.shutdown(wait=True, cancel_futures=True)
            self._batch_pool = None
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None

    def _observe(
        self,
        symbol: str,
        sym: _SymbolState,
        candle: Candle,
        row: np.ndarray,
        signal: Signal,
        now: int,
        parts: PipelineParts,
    ) -> None:
        intel = parts.intelligence
        if intel is None:
            return
        end = horizon_end_time(candle.open_time, self.config.labels.horizon, self._tf_ms)
        for vote in signal.votes:
            intel.observe(
                symbol, vote.model, (vote.p_down, vote.p_flat, vote.p_up), candle.open_time, end
            )
        if not np.isnan(row).any():
            sym.rows.append(row.copy())

    def check_covariate_shift(self, now: int) -> int:
        """Compare every symbol's recent live feature rows with each member's training
        reference. A monitoring job the engine schedules between candles — not part of any
        decision's latency; returns the checks run."""
        parts = self.parts
        intel = parts.intelligence if parts is not None else None
        if parts is None or intel is None or intel.covariate is None:
            return 0
        checks = 0
        covariate = intel.covariate
        for symbol, sym in self._symbols.items():
            if len(sym.rows) < covariate.config.min_rows:
                continue
            models = [
                m
                for m in parts.ensembles[symbol].config.models
                if covariate.reference(symbol, m) is not None
            ]
            if models:
                live = np.vstack(sym.rows)
                checks += len(
                    intel.check_features_of(symbol, models, live, sym.features.names, now)
                )
        return checks

    def _act(
        self,
        symbol: str,
        sym: _SymbolState,
        candle: Candle,
        signal: Signal,
        parts: PipelineParts,
        context: TradingContext,
    ) -> None:
        regime_reading = parts.regime.update(candle) if parts.regime is not None else None
        regime = regime_reading.regime if regime_reading is not None else None
        vol_pct = regime_reading.vol_percentile if regime_reading is not None else 0.5
        market = sym.tracker.update(candle, regime, vol_pct)
        if regime is not None:
            self.stats.last_regimes[symbol] = regime.value
        if parts.controller is not None and parts.regime is not None:
            parts.controller.set_market_regime(parts.regime.market_regime)
        if not sym.tracker.ready:
            return
        policy = parts.policy.current()
        choice = parts.selector.select(
            SelectionContext(
                symbol=symbol,
                time=market.time,
                regime=regime,
                market_regime=parts.regime.market_regime if parts.regime is not None else None,
                vol_percentile=vol_pct,
                confidence=signal.confidence,
                recent_pnl=parts.risk_view.daily_pnl(),
                risk_mode=policy.risk_mode,
            )
        )
        self.stats.strategies[choice.strategy] = self.stats.strategies.get(choice.strategy, 0) + 1
        strategy = parts.strategies[choice.strategy]
        position = context.portfolio.quantity(symbol)
        if sym.working_order is not None:
            working = context.orders.get(sym.working_order)
            if working is not None and not working.status.is_terminal:
                return  # the last order has not filled yet (it fills at the next open)
            sym.working_order = None
        intent = strategy.decide(signal, market, position, policy)
        if intent is None:
            return
        self.stats.intents += 1
        if intent.action is TradeAction.EXIT:
            quantity = abs(position)
        else:
            sized = parts.sizer.size(
                SizingRequest(intent, context.portfolio.equity, policy, _gross(context))
            )
            # the exchange takes whole steps only; flooring never sizes above what was allowed
            quantity = context.orders.specs[symbol].floor_quantity(sized.quantity)
            if quantity <= 0:
                return
        decision = parts.risk.evaluate(to_order_intent(intent, quantity, policy))
        key = decision.outcome.value
        self.stats.risk[key] = self.stats.risk.get(key, 0) + 1
        approved = approved_intent(decision)
        if approved is None or decision.outcome is Outcome.REJECTED:
            return
        spec = context.orders.specs[symbol]
        bracket = None
        if not approved.reduce_only:
            # Round toward the entry price: the stop never ends up further than the sized risk.
            long = approved.side.sign > 0
            stop, target = approved.stop_loss, approved.take_profit
            bracket = Bracket(
                stop_loss=None if stop is None else spec.round_price(stop, up=long),
                take_profit=None if target is None else spec.round_price(target, up=not long),
            )
        order = context.orders.submit(
            approved.symbol,
            approved.side,
            approved.quantity,
            OrderType.MARKET,
            reduce_only=approved.reduce_only,
            # an exit keeps the position's leverage; only an entry sets it
            leverage=None if approved.reduce_only else approved.leverage,
            bracket=bracket,
            tag=f"{choice.strategy}: {intent.reason}",
        )
        sym.working_order = order.client_order_id
        self.stats.orders += 1


def _gross(context: TradingContext) -> float:
    marks = context.portfolio.mark_prices()
    return sum(
        abs(p.quantity) * marks.get(s, p.entry_price)
        for s, p in context.portfolio.positions().items()
    )
