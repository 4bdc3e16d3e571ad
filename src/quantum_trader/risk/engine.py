"""The risk engine: every order intent passes here before execution.

It reads the world once (portfolio view, policy, kill switch, clock), updates the trading state,
runs the pure rules, and returns a :class:`RiskDecision` that it also publishes on
``risk.decision`` and writes to the journal. Cancels never come here: they pass in every state.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import replace

from quantum_trader.bus import topics
from quantum_trader.bus.port import EventBus
from quantum_trader.bus.typed import publish_event, subscribe_records
from quantum_trader.clock.clock import Clock
from quantum_trader.domain.orders import OrderIntent
from quantum_trader.domain.positions import Trade
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.context import CheckContext
from quantum_trader.risk.cooldown import LossStreaks
from quantum_trader.risk.decision import Outcome, RiskDecision, Verdict
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.policy_source import PolicySource
from quantum_trader.risk.portfolio_view import PortfolioView
from quantum_trader.risk.ports import RiskJournal
from quantum_trader.risk.rules import DEFAULT_RULES, Rule
from quantum_trader.risk.state import (
    CircuitBreaker,
    HealthReading,
    TradingState,
    TradingStateChange,
)
from quantum_trader.risk.warm_up import WarmUp, WarmUps
from quantum_trader.status.registry import StatusRegistry

MODULE = "risk_safety"
#: the actor of the transitions a running engine records: ``engine:<run id>``
ENGINE_ACTOR_PREFIX = "engine:"


def engine_actor(run_id: str) -> str:
    """The audit trail's actor for what the engine of run ``run_id`` decided by itself."""
    return f"{ENGINE_ACTOR_PREFIX}{run_id}"


def by_engine(actor: str) -> bool:
    """Whether a trading-state change was the engine's own (rows written before actors named
    the run carry the module's name) rather than a person's (``cli:<user>``)."""
    return actor == MODULE or actor.startswith(ENGINE_ACTOR_PREFIX)


MAX_PASSES = 5


def run_rules(
    ctx: CheckContext, rules: Sequence[Rule] = DEFAULT_RULES
) -> tuple[Outcome, float, tuple[str, ...]]:
    """Run ``rules`` until the quantity stops moving; pure, so property tests call it directly.

    Returns (outcome, final quantity, reasons). A pass that trims starts another pass on the
    smaller quantity; the answer comes from the first pass with no trim, so an APPROVED or
    TRIMMED quantity satisfies every rule as it is.
    """
    requested = ctx.intent.quantity
    qty = requested
    trims: list[str] = []
    for _ in range(MAX_PASSES):
        rejects: list[str] = []
        trimmed = False
        for rule in rules:
            result = rule(ctx, qty)
            if result.verdict is Verdict.REJECT:
                rejects.append(f"{result.rule}: {result.reason}")
            elif result.verdict is Verdict.TRIM:
                assert result.max_quantity is not None
                if result.max_quantity < qty:
                    qty = result.max_quantity
                    trimmed = True
                    trims.append(f"{result.rule}: {result.reason}")
        if not trimmed:
            if rejects:
                return Outcome.REJECTED, 0.0, tuple(trims + rejects)
            outcome = Outcome.TRIMMED if qty < requested else Outcome.APPROVED
            return outcome, qty, tuple(trims)
    return Outcome.REJECTED, 0.0, (*trims, f"rules did not settle in {MAX_PASSES} passes")


class RiskEngine:
    """Pre-trade checks, trading state and circuit breaker over a read-only portfolio."""

    def __init__(
        self,
        *,
        config: RiskConfig,
        portfolio: PortfolioView,
        policy: PolicySource,
        kill_switch: KillSwitch,
        journal: RiskJournal,
        clock: Clock,
        bus: EventBus | None = None,
        status: StatusRegistry | None = None,
        rules: Sequence[Rule] = DEFAULT_RULES,
        run_id: str = "run",
    ) -> None:
        self._config = config
        self._portfolio = portfolio
        self._policy = policy
        self._kill_switch = kill_switch
        self._journal = journal
        self._clock = clock
        self._bus = bus
        self._rules = tuple(rules)
        self._run_id = run_id
        self._actor = engine_actor(run_id)
        self._streaks = LossStreaks(config)
        self._decisions = 0
        self._handle = (
            status.register(MODULE, enabled=True, reason=f"{len(self._rules)} pre-trade rules")
            if status is not None
            else None
        )
        self._warm_ups = WarmUps(self._handle)
        self._followers: weakref.WeakSet[RiskEngine] = weakref.WeakSet()
        last = journal.latest_state_change()
        self._last_change = last
        self._state = last.state if last is not None else TradingState.ACTIVE
        self._state_reason = last.reason if last is not None else ""
        memory = journal.latest_breaker()
        self._breaker = CircuitBreaker(
            config, halt_latched=bool(last and last.halt_latched), memory=memory
        )
        self._memory = memory  # the breaker memory last written (or restored)
        self._show_breaker()

    # --- state ----------------------------------------------------------------------------
    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def halt_latched(self) -> bool:
        """Whether a drawdown halt is latched (only :meth:`reset_halt` clears it)."""
        return self._breaker.halt_latched

    @property
    def streaks(self) -> LossStreaks:
        return self._streaks

    @property
    def breaker(self) -> CircuitBreaker:
        """The drawdown breaker (read its peaks and releases; change it through the engine)."""
        return self._breaker

    def _reading(self) -> HealthReading:
        pf = self._portfolio
        equity = pf.equity()
        daily = pf.daily_pnl()
        start = equity - daily
        daily_loss = -daily / start if start > 0 and daily < 0 else 0.0
        ks = self._kill_switch.state()
        return HealthReading(
            equity,
            pf.peak_equity(),
            daily_loss,
            ks.engaged,
            ks.reason,
            flat=not pf.open_positions(),
            at=self._clock.now(),
        )

    def refresh_state(self) -> TradingState:
        """Re-read health and kill switch; record and publish a transition if there is one.

        Called before every order and, by the decision pipeline, on every closed candle: the
        breaker sees each equity the portfolio records and when the account became flat, so
        its peaks and its flat cool-down (in engine time) do not depend on orders being tried.
        """
        latest = self._journal.latest_state_change()
        if (
            latest is not None
            and latest != self._last_change
            and not by_engine(latest.by)
            and not latest.halt_latched
        ):
            self._breaker.reset()  # someone reset the latched halt from outside (CLI)
            self._last_change = latest
        self._warm_ups.settle(self._portfolio.last_candle_close_time)
        state, reason = self._breaker.assess(self._reading())
        self._state_reason = reason
        if state is not self._state:
            self._record_change(state, reason, by=self._actor)
        self._remember()
        return self._state

    def _remember(self) -> None:
        """Write the breaker's memory when something a restart needs has changed."""
        memory = self._breaker.memory()
        last = self._memory
        if last is not None and replace(last, at=memory.at) == memory:
            return
        self._memory = memory
        self._journal.record_breaker(memory)
        self._show_breaker()

    def _show_breaker(self) -> None:
        """The breaker's figures as status evidence (levels, in whole USDT)."""
        if self._handle is None:
            return
        b = self._breaker
        self._handle.gauge("breaker_releases", b.releases)
        self._handle.gauge("breaker_peak_equity", round(b.breaker_peak))
        self._handle.gauge("all_time_peak_equity", round(b.all_time_peak))

    @property
    def policy(self) -> PolicySource:
        """Where it reads the trading policy (the venue's protective stops read it too)."""
        return self._policy

    def rebase_account(self) -> TradingState:
        """The account's equity is a new baseline (a real venue took it over from the replay's
        paper book): the breaker's peaks start again from it; then re-assess."""
        self._breaker.rebase()
        return self.refresh_state()

    def reset_halt(self, *, by: str, reason: str, reassess: bool = True) -> TradingState:
        """Clear a latched drawdown halt by hand, then re-assess.

        ``reassess=False`` only journals the reset, for a process that holds no book (the
        ``risk reset-halt`` CLI): the engine that trades reads that entry at its next
        :meth:`refresh_state`, clears its own latch and re-assesses on its portfolio.
        """
        self._breaker.reset()
        self._record_change(self._state, f"halt reset: {reason}", by=by)
        return self.refresh_state() if reassess else self._state

    def _record_change(self, state: TradingState, reason: str, *, by: str) -> None:
        change = TradingStateChange(
            at=self._clock.now(),
            previous=self._state,
            state=state,
            reason=reason,
            by=by,
            halt_latched=self._breaker.halt_latched,
        )
        self._state = state
        self._journal.record_state_change(change)
        self._last_change = change
        if self._bus is not None:
            publish_event(self._bus, topics.RISK_STATE_CHANGED, change, source=MODULE)
        if self._handle is not None:
            self._handle.count("state_changes")

    # --- warm-up after a hole in a symbol's live feed -----------------------------------
    @property
    def warm_ups(self) -> dict[str, WarmUp]:
        """The symbols whose entries are held for a feature warm-up now."""
        return dict(self._warm_ups.active)

    def start_warm_up(
        self, symbol: str, *, since: int, step: int, candles: int, skipped: int
    ) -> WarmUp:
        """The live feed skipped ``skipped`` candles of ``symbol`` and it came back with the
        candle opening at ``since``: refuse its entries (rule ``warm_up``) until ``candles``
        candles of it have closed from there (``risk/warm_up.py``); every follower too."""
        warm = self._warm_ups.start(
            symbol, since=since, step=step, candles=candles, skipped=skipped
        )
        for follower in list(self._followers):
            follower._warm_ups.adopt(warm)
        return warm

    def follow_warm_ups(self, follower: RiskEngine) -> None:
        """``follower`` (a shadow account's engine, deciding on the same candles with features
        built the same way) holds entries wherever this one does: the holds on now, and each
        one started later. Only this engine logs and counts them; a follower let go (its
        account finished) is dropped with it."""
        follower._warm_ups.quiet = True
        for warm in self._warm_ups.active.values():
            follower._warm_ups.adopt(warm)
        self._followers.add(follower)

    # --- trades ---------------------------------------------------------------------------
    def record_trade(self, symbol: str, net_pnl: float, *, at: int) -> None:
        """A closed trade's net PnL, for the consecutive-loss cooldown."""
        self._streaks.record(symbol, net_pnl, at=at)

    def attach(self, bus: EventBus) -> None:
        """Follow ``execution.trade.closed``: each closed trade's net PnL feeds the cooldown."""
        subscribe_records(bus, topics.TRADE_CLOSED, self._on_trade)

    def _on_trade(self, trade: Trade) -> None:
        self.record_trade(trade.symbol, trade.net_pnl, at=trade.exit_time)

    # --- decisions ------------------------------------------------------------------------
    def context(self, intent: OrderIntent) -> CheckContext:
        """The snapshot the rules see for ``intent`` (trading state as last refreshed)."""
        pf = self._portfolio
        positions = {s: p.quantity for s, p in pf.open_positions().items() if p.quantity != 0}
        marks: dict[str, float] = {}
        for symbol in {*positions, intent.symbol}:
            mark = pf.mark_price(symbol)
            if mark is not None:
                marks[symbol] = mark
            elif symbol in positions:
                # value an unpriced position at its entry price rather than as zero exposure
                marks[symbol] = pf.open_positions()[symbol].entry_price
        return CheckContext(
            intent=intent,
            now=self._clock.now(),
            state=self._state,
            policy=self._policy.current(),
            config=self._config,
            equity=pf.equity(),
            peak_equity=pf.peak_equity(),
            daily_pnl=pf.daily_pnl(),
            positions=positions,
            marks=marks,
            last_candle_close=pf.last_candle_close_time(intent.symbol),
            cooldown_until=self._streaks.cooldown_until(intent.symbol),
            state_reason=self._state_reason,
            warm_up=self._warm_ups.get(intent.symbol),
        )

    def evaluate(self, intent: OrderIntent) -> RiskDecision:
        """Check one order intent; the decision is published and journalled before returning
        (a replay's journal writes its decisions in batches: ``app/run_scope.py``)."""
        self.refresh_state()
        ctx = self.context(intent)
        outcome, qty, reasons = run_rules(ctx, self._rules)
        self._decisions += 1
        decision = RiskDecision(
            decision_id=f"{self._run_id}:risk:{self._decisions}",
            outcome=outcome,
            intent=intent,
            final_quantity=qty,
            reasons=reasons,
            time=ctx.now,
            trading_state=ctx.state,
            risk_mode=ctx.policy.risk_mode,
        )
        self._journal.record_decision(decision)
        if self._bus is not None:
            publish_event(self._bus, topics.RISK_DECISION, decision, source=MODULE)
        if self._handle is not None:
            self._handle.count(f"decisions_{outcome.value.lower()}")
            if any(reason.startswith("warm_up:") for reason in reasons):
                self._handle.count("entries_held_warm_up")
        return decision


def approved_intent(decision: RiskDecision) -> OrderIntent | None:
    """The intent to send, at the decided quantity; None if rejected."""
    if not decision.passed:
        return None
    return replace(decision.intent, quantity=decision.final_quantity)
