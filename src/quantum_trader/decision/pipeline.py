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

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from quantum_trader.decision.batch_votes import PREPARE_CHUNK, BatchVoteWorker
from quantum_trader.decision.inputs import (
    PendingDecision,
    PipelineConfig,
    PipelineStats,
    SymbolInputs,
)
from quantum_trader.decision.meta_labels import meta_passes, record_primary
from quantum_trader.decision.orders import on_steps, submit
from quantum_trader.decision.parts import PartsFactory, PipelineParts
from quantum_trader.decision.sizing_request import sizing_request
from quantum_trader.domain.decisions import DecisionRef, votes_of
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.market import Candle, FundingRate
from quantum_trader.domain.orders import OrderIntent
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.domain.signals import Signal
from quantum_trader.domain.time import timeframe_ms
from quantum_trader.engine.engine import Bar
from quantum_trader.engine.trader import TradingContext
from quantum_trader.features.universe import UniverseFeatures
from quantum_trader.intelligence.ledger import horizon_end_time
from quantum_trader.models.ensemble.member import VoteContext
from quantum_trader.risk.decision import Outcome
from quantum_trader.risk.engine import approved_intent
from quantum_trader.strategy.intents import TradeAction, TradeIntent
from quantum_trader.strategy.market_state import MarketState
from quantum_trader.strategy.selector import NEUTRAL, SelectionContext, StrategyChoice
from quantum_trader.strategy.sizing import to_order_intent

PIPELINE_NAME = "ai_ensemble"


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
        # the universe features' cross-sections, shared by the symbols (features/universe.py)
        universe = UniverseFeatures(config.timeframe) if config.features.universe else None
        self._symbols = {s: SymbolInputs(s, config, funding.get(s, ()), universe) for s in symbols}
        self._market_candle: Candle | None = None
        self.parts: PipelineParts | None = None
        self._context: TradingContext | None = None
        self.stats = PipelineStats()
        #: when a list, every decision's latency (ns, candle in → order out) is appended (bench)
        self.latencies_ns: list[int] | None = None
        self._batch = BatchVoteWorker()  # prepare_replay's worker
        self._vote_pool: ThreadPoolExecutor | None = None  # the live votes' worker (bind)
        #: asked about each trade intent before it is sized; True holds it back (another
        #: component owns the symbol's orders: ``experiments/routing.py``). None: all go on
        self.hold_back: Callable[[TradeIntent], bool] | None = None

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
            sym.record(candle)
            self._observe_move(sym, candle, parts)
            reading = parts.regime.update(candle) if parts.regime is not None else None
            sym.tracker.update(
                candle,
                reading.regime if reading is not None else None,
                reading.vol_percentile if reading is not None else 0.5,
                sym.momentum_rank(candle.open_time),
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
        pending = self.open_decision(symbol, open_time, close_time, o, h, lo, c, v)
        if pending is not None:
            self.close_decision(pending)

    def open_decision(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> PendingDecision | None:
        """:meth:`on_bar` up to what the selector will be asked (None: a symbol not traded).
        An owner that chooses the strategy itself (``rl/env.py``) calls this, sets its
        selector's answer, then :meth:`close_decision` before anything else happens."""
        parts, context = self._bound()
        sym = self._symbols.get(symbol)
        if sym is None:
            return None  # a symbol the runner replays for context only
        started = time.perf_counter_ns() if self.latencies_ns is not None else 0
        candle = Candle(symbol, self.config.timeframe, open_time, o, h, lo, c, v)
        parts.risk_view.last_close[symbol] = close_time
        self._learn(symbol, sym, candle, close_time, parts)
        signal = self._signal(symbol, sym, candle, close_time, parts)
        # the breaker sees every recorded equity and every flat hour, orders or not
        parts.risk.refresh_state()
        market = self._market(symbol, sym, candle, parts)
        if market is None:
            return PendingDecision(sym, candle, signal, None, None, None, started)
        policy = parts.policy.current()
        self.stats.note_risk(market.time, policy.risk_mode.value, parts.risk.state.value)
        selection = self._selection(symbol, market, signal, policy, parts, context)
        return PendingDecision(sym, candle, signal, market, policy, selection, started)

    def close_decision(self, pending: PendingDecision) -> None:
        """The rest of :meth:`on_bar`: strategy, intent, size, risk, order; the hooks."""
        parts, context = self._bound()
        if pending.selection is not None:
            self._act(pending, pending.selection, parts, context)
        if self.latencies_ns is not None:
            self.latencies_ns.append(time.perf_counter_ns() - pending.started_ns)
        for hook in parts.after_decision:
            hook()

    def _bound(self) -> tuple[PipelineParts, TradingContext]:
        if self.parts is None or self._context is None:
            raise RuntimeError("DecisionPipeline.on_bar before bind()")
        return self.parts, self._context

    # --- steps ---------------------------------------------------------------------------
    def _learn(
        self, symbol: str, sym: SymbolInputs, candle: Candle, now: int, parts: PipelineParts
    ) -> None:
        """Record the candle and release the outcomes whose horizon has now passed."""
        sym.record(candle)
        self._observe_move(sym, candle, parts)
        horizon = self.config.labels.horizon
        sym.forget_before(candle.open_time - (horizon + 2) * self._tf_ms - 64 * self._tf_ms)
        if parts.intelligence is not None:
            # A label of this symbol needs its candle at the horizon, recorded just above in its
            # own call: only this symbol's predictions can have become resolvable here.
            parts.intelligence.resolve(now, self._label, (symbol,))
        for listener in parts.label_listeners:
            listener(now, self._label, (symbol,))
        if parts.meta_filter is not None:  # the primary entries this candle resolves
            parts.meta_filter.observe(candle)

    def _observe_move(self, sym: SymbolInputs, candle: Candle, parts: PipelineParts) -> None:
        """The forward return over the horizon that ends with this close, for the cost gate's
        move sizes (known now: both closes are in the past), with the class it counts in under
        barrier labels (``SymbolInputs.realised_move``)."""
        if parts.entry_gate is None:
            return
        move = sym.realised_move(candle)
        if move is not None:
            parts.entry_gate.observe(candle.symbol, *move)

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
        """The realised label, of the kind the members learnt (``SymbolInputs.realised_label``)."""
        return self._symbols[symbol].realised_label(prediction_time)

    def _signal(
        self, symbol: str, sym: SymbolInputs, candle: Candle, now: int, parts: PipelineParts
    ) -> Signal:
        context = self._inputs(sym, candle, now)
        decision = parts.ensembles[symbol].decide(symbol, context)
        row = context.features
        assert row is not None
        sym.last_row = row
        self._observe(symbol, sym, candle, row, decision.signal, now, parts)
        self.stats.decisions += 1
        key = decision.signal.direction.value
        self.stats.signals[key] = self.stats.signals.get(key, 0) + 1
        return decision.signal

    def _inputs(self, sym: SymbolInputs, candle: Candle, now: int) -> VoteContext:
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
        self._batch.stop()  # an earlier replay's
        submit = self._batch.start() if background else None
        live, market = self._symbols, self._market_candle
        memo: dict[int, object] = {}  # one copy of the shared universe state for all forks
        self._symbols = {s: state.fork_inputs(memo) for s, state in live.items()}
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
        self._batch.stop()
        if self._vote_pool is not None:
            if self.parts is not None:
                for ensemble in self.parts.ensembles.values():
                    ensemble.offload_to(None)
            self._vote_pool.shutdown(wait=True)
            self._vote_pool = None

    def _observe(
        self,
        symbol: str,
        sym: SymbolInputs,
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

    # --- acting on a signal: market → select → intend → size → check → submit ----------------
    def _act(
        self,
        pending: PendingDecision,
        selection: SelectionContext,
        parts: PipelineParts,
        context: TradingContext,
    ) -> None:
        symbol, sym, signal = selection.symbol, pending.inputs, pending.signal
        market, policy = pending.market, pending.policy
        assert market is not None and policy is not None
        choice = self._select(selection, parts)
        intent = self._intend(symbol, sym, choice, signal, market, policy, parts, context)
        if intent is None or (self.hold_back is not None and self.hold_back(intent)):
            return
        sized = self._size(selection, market, intent, signal, policy, parts, context)
        if sized is None:
            return
        quantity, sizer = sized
        approved = self._check(intent, quantity, policy, parts)
        if approved is not None:
            approved = self._on_steps(approved, context)
        if approved is None:
            return
        ref = DecisionRef(
            f"{symbol}@{market.time}",
            choice.strategy,
            choice.selector,
            sizer,
            self._members(symbol, signal, parts),
            market.regime.value if market.regime is not None else "",
            *votes_of(signal),
        )
        order = submit(approved, f"{choice.strategy}: {intent.reason}", ref, context)
        sym.working_order = order.client_order_id
        self.stats.orders += 1

    def _market(
        self, symbol: str, sym: SymbolInputs, candle: Candle, parts: PipelineParts
    ) -> MarketState | None:
        """Regime and market state after ``candle``; None while the indicators warm up."""
        regime_reading = parts.regime.update(candle) if parts.regime is not None else None
        regime = regime_reading.regime if regime_reading is not None else None
        vol_pct = regime_reading.vol_percentile if regime_reading is not None else 0.5
        market = sym.tracker.update(candle, regime, vol_pct, sym.momentum_rank(candle.open_time))
        if regime is not None:
            self.stats.last_regimes[symbol] = regime.value
        if parts.controller is not None and parts.regime is not None:
            parts.controller.set_market_regime(parts.regime.market_regime)
        return market if sym.tracker.ready else None

    def _selection(
        self,
        symbol: str,
        market: MarketState,
        signal: Signal,
        policy: TradingPolicy,
        parts: PipelineParts,
        context: TradingContext,
    ) -> SelectionContext:
        """What the selector is asked about this decision (``strategy/selector.py``)."""
        portfolio = context.portfolio
        equity = portfolio.equity
        peak = portfolio.peak_equity
        notional = portfolio.quantity(symbol) * portfolio.mark_price(symbol)
        return SelectionContext(
            symbol=symbol,
            time=market.time,
            regime=market.regime,
            market_regime=parts.regime.market_regime if parts.regime is not None else None,
            vol_percentile=market.vol_percentile,
            confidence=signal.confidence,
            recent_pnl=parts.risk_view.daily_pnl(),
            risk_mode=policy.risk_mode,
            trading_state=parts.risk.state,
            equity=equity,
            position=notional / equity if equity > 0 else 0.0,
            drawdown=1.0 - equity / peak if peak > 0 else 0.0,
        )

    def _select(self, selection: SelectionContext, parts: PipelineParts) -> StrategyChoice:
        """The selector's strategy for this decision; Neutral instead of a strategy benched in
        this regime for its negative expectancy (``strategy/expectancy.py``)."""
        choice = parts.selector.select(selection)
        if parts.expectancy is not None and choice.strategy != NEUTRAL:
            regime = selection.regime.value if selection.regime is not None else ""
            bench = parts.expectancy.bench_of(choice.strategy, regime, selection.time)
            if bench is not None:  # its expectancy here is significantly negative: stand aside
                choice = StrategyChoice(
                    NEUTRAL,
                    f"{choice.strategy} benched in {regime or 'no regime'} → Neutral",
                    choice.selector,
                )
                self.stats.benched_substitutions += 1
                handle = parts.handles.get("strategies")
                if handle is not None:
                    handle.count("benched_substitutions")
        self.stats.strategies[choice.strategy] = self.stats.strategies.get(choice.strategy, 0) + 1
        return choice

    def _intend(
        self,
        symbol: str,
        sym: SymbolInputs,
        choice: StrategyChoice,
        signal: Signal,
        market: MarketState,
        policy: TradingPolicy,
        parts: PipelineParts,
        context: TradingContext,
    ) -> TradeIntent | None:
        """The chosen strategy's trade intent; None while the last order is still working."""
        position = context.portfolio.quantity(symbol)
        if sym.working_order is not None:
            working = context.orders.get(sym.working_order)
            if working is not None and not working.status.is_terminal:
                return None  # the last order has not filled yet (it fills at the next open)
            sym.working_order = None
        strategy = parts.strategies[choice.strategy]
        if parts.meta_filter is not None:
            record_primary(parts.meta_filter, sym, strategy, market, policy, self._tf_ms)
        intent = strategy.decide(signal, market, position, policy)
        if intent is None:
            return None
        self.stats.intents += 1
        sym.meta_probability = None
        entry = intent.action is TradeAction.ENTRY
        if entry and parts.meta_filter is not None and not meta_passes(sym, intent, parts):
            return None
        gate = parts.entry_gate
        if intent.action is TradeAction.ENTRY and gate is not None:
            verdict = gate.assess(signal, intent.side, funding_rate=sym.last_funding_rate)
            if not verdict.passed:
                self.stats.cost_rejections += 1
                handle = parts.handles.get("strategies")
                if handle is not None:
                    handle.count("entries_rejected_for_cost")
                return None
        return intent

    def _size(
        self,
        selection: SelectionContext,
        market: MarketState,
        intent: TradeIntent,
        signal: Signal,
        policy: TradingPolicy,
        parts: PipelineParts,
        context: TradingContext,
    ) -> tuple[float, str] | None:
        """The quantity and who sized it: the whole position for an exit ("exit"), else the
        sizer's, floored to a step."""
        if intent.action is TradeAction.EXIT:
            return abs(context.portfolio.quantity(selection.symbol)), "exit"
        sized = parts.sizer.size(
            sizing_request(
                intent,
                policy,
                context.portfolio,
                selection,
                market,
                signal,
                win_probability=self._symbols[selection.symbol].meta_probability,
            )
        )
        # the exchange takes whole steps only; flooring never sizes above what was allowed
        quantity = context.orders.specs[selection.symbol].floor_quantity(sized.quantity)
        return (quantity, sized.sizer) if quantity > 0 else None

    def _check(
        self, intent: TradeIntent, quantity: float, policy: TradingPolicy, parts: PipelineParts
    ) -> OrderIntent | None:
        """The risk engine's verdict: the intent to send (perhaps trimmed), or None."""
        decision = parts.risk.evaluate(to_order_intent(intent, quantity, policy))
        key = decision.outcome.value
        self.stats.risk[key] = self.stats.risk.get(key, 0) + 1
        approved = approved_intent(decision)
        if approved is None or decision.outcome is Outcome.REJECTED:
            return None
        return approved

    def _on_steps(self, approved: OrderIntent, context: TradingContext) -> OrderIntent | None:
        """The approved quantity floored to the venue's step: a risk rule trims to any real
        number (a notional or risk cap divided by a price), and the exchange refuses a quantity
        off its step. Flooring never sends more than the risk engine allowed; a trim below one
        step sends nothing (counted as ``below_step``)."""
        stepped = on_steps(approved, context.orders.specs[approved.symbol])
        if stepped is None:
            self.stats.risk["below_step"] = self.stats.risk.get("below_step", 0) + 1
        return stepped

    def _members(self, symbol: str, signal: Signal, parts: PipelineParts) -> tuple[str, ...]:
        """The members that voted on this decision, with their registry versions (``name@v``;
        the bare name when a member is not from the registry)."""
        versions = {m.name: m.version for m in parts.ensembles[symbol].member_ids}
        return tuple(
            vote.model
            if versions.get(vote.model) is None
            else f"{vote.model}@{versions[vote.model]}"
            for vote in signal.votes
        )
