"""Module 14, ``rl_v2_qlearning``: a tabular Q-learning strategy selector, the challenger to the
PPO selector (issue 18).

**Choice.** Per decision it encodes the :class:`SelectionContext` as a discrete state
(``agents/qstate.py``: regime × volatility bucket × confidence bucket × sign of recent PnL) and
picks one of TrendFollowing / MeanReversion / Breakout / Neutral epsilon-greedily: with
probability ε a uniform draw, else the strategy of highest value (ties drawn uniformly). ε
decays **linearly per closed trade learnt from** (the evidence; not per decision, nor per idle
credit below) from ``epsilon_start`` 0.1 to ``epsilon_end`` 0.02 over
``epsilon_decay_trades`` (2,000) trades, then stays there (:meth:`QLearningConfig.epsilon`).
Every draw comes from the selector's own seeded ``numpy`` Generator: the same seed and the same
inputs give the same choices.

**A strategy is an option that runs until its trade closes.** The decision path asks the
selector on every candle, and the strategy chosen decides the exits too; a selector that
switched strategy while a position is open would close (Neutral, or TrendFollowing outside a
trend) another strategy's trade, and the trade's reward would then credit its opener for
someone else's exit. So while a position that this selector's choice opened is open, it keeps
choosing that strategy (``hold_position``; it learns of the fill from
``execution.order.submitted`` / ``.filled``, or :meth:`QLearningSelector.hold`), and the
trade's close releases it. The Q-values are the values of *opening* with a strategy.

**Learning** (``execution.trade.closed``). Every selection is remembered per symbol; a closed
trade carries the :class:`~quantum_trader.domain.decisions.DecisionRef` of the decision that
opened it (``SYMBOL@time``), which settles that symbol's selections up to the trade's close:

* the **opening** selection gets the trade's reward, for the strategy the trade names (not
  necessarily this learner's choice: Q-learning is off-policy, so it can learn from trades that
  another selector made at decisions it was asked too);
* the selections **before** it — flat, and whatever they chose opened nothing (one position per
  symbol) — get a reward of 0 each (``credit_idle``, only for trades this selector decided: a
  choice of another selector's was not what ran). Without it a strategy would be valued by its
  return *per trade*, and one that rarely trades but holds long (Breakout in a trend) would
  outrank one that is in the market all the time and earns more (TrendFollowing there); with it
  the value is the expected return *per flat decision*: how often choosing it opens a trade
  times what that trade earns;
* the selections **while** the position was open are dropped (their strategy was the opener).

A trade whose opening decision it never saw (opened before a restart, or by another process) is
skipped and counted.

**Reward.** The trade's net PnL (after fees and funding) as a fraction of its entry notional
(quantity × entry price) — the project's net trade return (``strategy/expectancy.py``). It
measures the strategy's entries and exits, not the size the sizer and the risk mode gave them:
dividing by equity would let a TURBO stretch flatter a strategy and a CONSERVATIVE one hide it;
an R-multiple needs the stop distance, which a trade does not carry.

**Bellman update and the next state.** ``Q(s,a) += α·(r + γ·max_a' Q(s',a') - Q(s,a))`` with
``α = max(1/n, learning_rate)`` (n: the cell's visits, this one included: the exact mean of the
first 1/learning_rate rewards, then a constant step that follows a market that changes). The
next state ``s'`` is the latest state this learner saw for the trade's symbol, i.e. the state
it is in when the outcome arrives. The default discount is **0** — a one-step, contextual-bandit
update — and that is argued, not assumed: the state (regime, volatility, model confidence) is
the market's, which the choice of strategy does not move, and only the PnL sign is touched by
it; the reward arrives after many later decisions were taken, so a "next state" of the trade is
not the state the choice led to, and bootstrapping on it would add noise without modelling any
real consequence of the action. ``discount > 0`` is available.

**Persistence.** Through a :class:`~quantum_trader.agents.qtable.QTableRepository` (SQL adapter:
``adapters/sql/qtable_repository.py``) under a scope (a run id or a named table): restored at
start, saved after every ``save_every`` (100) updates (trade updates and idle credits alike) and
at shutdown, each save one transaction, so at most ``save_every`` updates are lost to a kill.
Selections not yet settled by a trade are not saved.

**Evidence** on its :class:`ModuleHandle`: ``decisions``, ``explorations``, ``holding``,
``selected_<strategy>``, ``updates``, ``trades_learnt``, ``idle_credits``, ``saves``,
``table_cells``, ``epsilon_permille``, ``updates_skipped_unknown_decision``,
``pending_evicted``, ``restored_updates``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from quantum_trader.agents.qstate import QState, QStateConfig, encode
from quantum_trader.agents.qtable import QTable, QTableRepository, QTableSnapshot
from quantum_trader.bus import topics
from quantum_trader.bus.port import EventBus, Subscription
from quantum_trader.bus.typed import subscribe_records
from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.events import OrderFilled
from quantum_trader.domain.orders import Order
from quantum_trader.domain.positions import Trade
from quantum_trader.lifecycle.component import ComponentContext, Hooks
from quantum_trader.status.registry import ModuleHandle
from quantum_trader.strategy.selector import (
    NEUTRAL,
    STRATEGY_NAMES,
    SelectionContext,
    StrategyChoice,
)

MODULE = "rl_v2_qlearning"


@dataclass(frozen=True, slots=True)
class QLearningConfig:
    """Frozen settings of the Q-learner.

    >>> cfg = QLearningConfig()
    >>> cfg.epsilon(0), round(cfg.epsilon(1_000), 3), cfg.epsilon(2_000), cfg.epsilon(10**6)
    (0.1, 0.06, 0.02, 0.02)
    >>> QLearningConfig(epsilon_start=0.01, epsilon_end=0.02)
    Traceback (most recent call last):
    ...
    quantum_trader.domain.errors.DomainValidationError: QLearningConfig.epsilon_end=0.02: must be in [0, epsilon_start=0.01]
    """

    #: floor of the step size α = max(1/visits, learning_rate)
    learning_rate: float = 0.005
    #: γ of the Bellman target; 0: one-step (contextual bandit) update, see the module docstring
    discount: float = 0.0
    epsilon_start: float = 0.1
    epsilon_end: float = 0.02
    #: closed trades learnt from over which ε falls linearly from start to end
    epsilon_decay_trades: int = 2_000
    #: a save after every this many updates (and one at shutdown)
    save_every: int = 100
    #: selections remembered per symbol until a trade settles them (oldest dropped first)
    max_pending: int = 10_000
    #: credit 0 to a strategy chosen while flat that opened nothing (on-policy trades only)
    credit_idle: bool = True
    #: keep choosing the strategy that opened a symbol's position until its trade closes
    hold_position: bool = True
    state: QStateConfig = field(default_factory=QStateConfig)

    def __post_init__(self) -> None:
        name = "QLearningConfig"
        if not 0 < self.learning_rate <= 1:
            raise DomainValidationError(name, "learning_rate", self.learning_rate, "in (0, 1]")
        if not 0 <= self.discount < 1:
            raise DomainValidationError(name, "discount", self.discount, "must be in [0, 1)")
        if not 0 <= self.epsilon_start <= 1:
            raise DomainValidationError(name, "epsilon_start", self.epsilon_start, "in [0, 1]")
        if not 0 <= self.epsilon_end <= self.epsilon_start:
            raise DomainValidationError(
                name,
                "epsilon_end",
                self.epsilon_end,
                f"must be in [0, epsilon_start={self.epsilon_start}]",
            )
        for knob in ("epsilon_decay_trades", "save_every", "max_pending"):
            if getattr(self, knob) < 1:
                raise DomainValidationError(name, knob, getattr(self, knob), "must be >= 1")

    def epsilon(self, trades: int) -> float:
        """ε after learning from ``trades`` closed trades: linear from start to end, then
        flat."""
        if trades >= self.epsilon_decay_trades:
            return self.epsilon_end
        done = trades / self.epsilon_decay_trades
        return self.epsilon_start + (self.epsilon_end - self.epsilon_start) * done


@dataclass(frozen=True, slots=True)
class _Selection:
    time: int
    state: str
    strategy: str


def trade_reward(trade: Trade) -> float:
    """The reward of a closed trade: net PnL over entry notional; a clear error when it is not
    a finite number."""
    reward = trade.net_pnl / (trade.quantity * trade.entry_price)
    if not math.isfinite(reward):
        raise DomainValidationError(
            "Trade",
            "net_pnl",
            trade.net_pnl,
            f"gives a non-finite Q-learning reward (trade {trade.trade_id} of {trade.symbol}, "
            f"pnl={trade.pnl} fees={trade.fees} funding={trade.funding})",
        )
    return reward


class QLearningSelector:
    """The tabular Q-learning :class:`~quantum_trader.strategy.selector.StrategySelector`.

    >>> from quantum_trader.domain.market import Regime
    >>> from quantum_trader.domain.policy import RiskMode
    >>> sel = QLearningSelector(QLearningConfig(epsilon_start=0, epsilon_end=0), seed=1)
    >>> ctx = SelectionContext("BTCUSDT", 7, Regime.BULL, None, 0.5, 0.1, 0.0, RiskMode.MODERATE)
    >>> state = sel.state_of(ctx).key
    >>> sel.update(state, "Breakout", 0.004)
    0.004
    >>> sel.select(ctx).strategy
    'Breakout'
    """

    def __init__(
        self,
        config: QLearningConfig,
        *,
        seed: int,
        repository: QTableRepository | None = None,
        scope: str = "default",
        handle: ModuleHandle | None = None,
        name: str = "qlearning",
        learning: bool = True,
    ) -> None:
        if not scope:
            raise ValueError("QLearningSelector: scope must not be empty")
        self.config = config
        self.name = name
        self.scope = scope
        self.learning = learning
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._repository = repository
        self._handle = handle
        self.table = QTable()
        self._pending: dict[str, deque[_Selection]] = {}  # symbol -> its selections in order
        self._latest: dict[str, str] = {}  # symbol -> its latest state key
        self._holding: dict[str, str] = {}  # symbol -> the strategy that opened its position
        self._opening: dict[str, tuple[str, str]] = {}  # entry order id -> (symbol, strategy)
        self.decisions = 0
        self.explorations = 0
        self.updates = 0
        self.saves = 0
        self.skipped = 0
        self.trades_learnt = 0
        self._saved_updates = -1  # updates at the last save or restore (-1: none yet)
        self._last_time = 0

    # --- choice -----------------------------------------------------------------------------
    def state_of(self, context: SelectionContext) -> QState:
        return encode(context, self.config.state)

    @property
    def epsilon(self) -> float:
        return self.config.epsilon(self.trades_learnt)

    def select(self, context: SelectionContext) -> StrategyChoice:
        state = self.state_of(context).key
        self._last_time = max(self._last_time, context.time)
        held = self._holding.get(context.symbol)
        if held is not None:  # the opener manages its position until the trade closes
            self._remember(context, state, held)
            self.decisions += 1
            if self._handle is not None:
                self._handle.count("decisions")
                self._handle.count("holding")
                self._handle.count(f"selected_{held}")
            return StrategyChoice(held, f"holding the {held} position in {state}", self.name)
        eps = self.epsilon
        values = self.table.values(state)
        explore = bool(self._rng.random() < eps)
        if explore:
            index = int(self._rng.integers(len(STRATEGY_NAMES)))
            self.explorations += 1
            reason = f"explore (ε={eps:.3f}) in {state}"
        else:
            best = max(values)
            ties = [i for i, v in enumerate(values) if v == best]
            index = ties[0] if len(ties) == 1 else ties[int(self._rng.integers(len(ties)))]
            tied = f", {len(ties)} tied" if len(ties) > 1 else ""
            reason = f"greedy in {state}: Q={best:+.5f}{tied}"
        strategy = STRATEGY_NAMES[index]
        self._remember(context, state, strategy)
        self.decisions += 1
        if self._handle is not None:
            self._handle.count("decisions")
            self._handle.count(f"selected_{strategy}")
            if explore:
                self._handle.count("explorations")
        return StrategyChoice(strategy, reason, self.name)

    def holding(self, symbol: str) -> str | None:
        """The strategy whose open position of ``symbol`` this selector keeps choosing (None:
        flat): while it holds, a selection is no choice (an off-policy log leaves it out)."""
        return self._holding.get(symbol)

    def probabilities(self, context: SelectionContext) -> dict[str, float]:
        """The chance of each strategy at this context under the current ε (the propensity an
        off-policy estimate needs); draws nothing, counts nothing. While the symbol's position
        is held, its opener has probability 1."""
        held = self._holding.get(context.symbol)
        if held is not None:
            return {s: float(s == held) for s in STRATEGY_NAMES}
        values = self.table.values(self.state_of(context).key)
        best = max(values)
        ties = sum(v == best for v in values)
        eps, k = self.epsilon, len(STRATEGY_NAMES)
        return {
            s: eps / k + ((1 - eps) / ties if v == best else 0.0)
            for s, v in zip(STRATEGY_NAMES, values, strict=True)
        }

    def _remember(self, context: SelectionContext, state: str, strategy: str) -> None:
        self._latest[context.symbol] = state
        if not self.learning:
            return
        queue = self._pending.get(context.symbol)
        if queue is None:
            queue = self._pending[context.symbol] = deque()
        if queue and context.time <= queue[-1].time:
            if context.time < queue[-1].time:
                raise ValueError(
                    f"QLearningSelector: {context.symbol} selected at {context.time}, before its "
                    f"last selection at {queue[-1].time} (time must not go back per symbol)"
                )
            queue.pop()  # asked again for the same decision: the last answer is what ran
        queue.append(_Selection(context.time, state, strategy))
        if len(queue) > self.config.max_pending:
            queue.popleft()
            if self._handle is not None:
                self._handle.count("pending_evicted")

    # --- learning ---------------------------------------------------------------------------
    def attach(self, bus: EventBus) -> list[Subscription]:
        """Learn from ``execution.trade.closed``; follow this selector's entry orders
        (``execution.order.submitted`` / ``.filled`` / ``.updated``) to know which strategy
        holds a position."""
        return [
            subscribe_records(bus, topics.TRADE_CLOSED, self._on_trade),
            subscribe_records(bus, topics.ORDER_SUBMITTED, self._on_submitted),
            subscribe_records(bus, topics.ORDER_FILLED, self._on_filled),
            subscribe_records(bus, topics.ORDER_UPDATED, self._on_updated),
        ]

    def _on_trade(self, trade: Trade) -> None:
        self.observe(trade)

    def _on_submitted(self, order: Order) -> None:
        ref = order.decision
        if (
            ref is not None
            and ref.selector == self.name
            and not order.reduce_only
            and ref.sizer != "exit"
            and ref.strategy != NEUTRAL
        ):
            self._opening[order.client_order_id] = (order.symbol, ref.strategy)

    def _on_filled(self, fill: OrderFilled) -> None:
        opening = self._opening.get(fill.client_order_id)
        if opening is not None:
            self.hold(*opening)
            if fill.order_status.is_terminal:
                del self._opening[fill.client_order_id]

    def _on_updated(self, order: Order) -> None:
        if order.status.is_terminal:
            self._opening.pop(order.client_order_id, None)

    def hold(self, symbol: str, strategy: str) -> None:
        """A position of ``symbol`` was opened by ``strategy`` chosen by this selector: while it
        is open, the selector keeps choosing ``strategy`` (see the module docstring); the
        trade's close releases it."""
        if strategy not in STRATEGY_NAMES:
            raise ValueError(f"QLearningSelector.hold: unknown strategy {strategy!r} ({symbol})")
        if self.config.hold_position:
            self._holding[symbol] = strategy

    def observe(self, trade: Trade) -> bool:
        """Learn from one closed trade: the update of its opening decision, and (on-policy) the
        zero-reward credits of the idle selections before it; False when the trade teaches
        nothing (not the decision path's, a decision this learner did not see, or a frozen
        learner)."""
        self._holding.pop(trade.symbol, None)  # one position per symbol: it is flat now
        ref = trade.decision
        if ref is None or not self.learning:
            return False
        where = f"trade {trade.trade_id} of {trade.symbol} (decision {ref.decision_id})"
        if ref.strategy not in STRATEGY_NAMES:
            raise ValueError(
                f"QLearningSelector: {where} names unknown strategy {ref.strategy!r}; known "
                f"{list(STRATEGY_NAMES)}"
            )
        reward = trade_reward(trade)
        named = ref.symbol_and_time()
        if named is None or named[0] != trade.symbol:
            raise ValueError(
                f"QLearningSelector: {where}: the decision id is not '{trade.symbol}@<time>'"
            )
        opened_at = named[1]
        self._last_time = max(self._last_time, trade.exit_time)
        idle, opening = self._settle(trade.symbol, opened_at, trade.exit_time)
        if self.config.credit_idle and ref.selector == self.name:
            for selection in idle:  # chose a strategy while flat, and it opened nothing
                self.update(selection.state, selection.strategy, 0.0)
                if self._handle is not None:
                    self._handle.count("idle_credits")
        if opening is None:
            self.skipped += 1
            if self._handle is not None:
                self._handle.count("updates_skipped_unknown_decision")
            return False
        self.update(opening.state, ref.strategy, reward, self._latest.get(trade.symbol))
        self.trades_learnt += 1
        if self._handle is not None:
            self._handle.count("trades_learnt")
        return True

    def _settle(
        self, symbol: str, opened_at: int, closed_at: int
    ) -> tuple[list[_Selection], _Selection | None]:
        """Take the symbol's selections up to the trade's close out of memory: those before the
        opening decision (flat, and none of them opened a position: one position per symbol),
        the opening one, and the ones while the position was open (dropped: their trade's
        reward goes to the opening decision)."""
        queue = self._pending.get(symbol)
        idle: list[_Selection] = []
        opening = None
        while queue and queue[0].time <= closed_at:
            selection = queue.popleft()
            if selection.time < opened_at:
                if selection.strategy != NEUTRAL:
                    idle.append(selection)
            elif selection.time == opened_at:
                opening = selection
        return idle, opening

    def update(
        self, state: str, action: str, reward: float, next_state: str | None = None
    ) -> float:
        """One Bellman update of (``state``, ``action``); the cell's new value. Saves after
        every ``save_every`` updates when a repository is set."""
        if action not in STRATEGY_NAMES:
            raise ValueError(
                f"QLearningSelector.update: unknown strategy {action!r} in state {state!r}; "
                f"known {list(STRATEGY_NAMES)}"
            )
        if not math.isfinite(reward):
            raise DomainValidationError(
                "QLearningSelector.update", "reward", reward, f"must be finite ({state}, {action})"
            )
        cfg = self.config
        target = reward
        if cfg.discount > 0 and next_state is not None:
            target += cfg.discount * max(self.table.values(next_state))
        rate = max(1.0 / (self.table.visits(state, action) + 1), cfg.learning_rate)
        value = self.table.update(state, action, target, rate)
        self.updates += 1
        if self._handle is not None:
            self._handle.count("updates")
            self._handle.gauge("table_cells", len(self.table))
            self._handle.gauge("epsilon_permille", round(1000 * self.epsilon))
        if self._repository is not None and self.updates % cfg.save_every == 0:
            self.save(self._last_time)
        return value

    # --- persistence ------------------------------------------------------------------------
    def snapshot(self, at: int) -> QTableSnapshot:
        return QTableSnapshot(
            self.scope,
            self.config.state.fingerprint(),
            self.updates,
            self.trades_learnt,
            self.decisions,
            at,
            self.table.cells(),
        )

    def save(self, at: int) -> None:
        """Write the whole table (one transaction in the repository)."""
        if self._repository is None:
            raise RuntimeError(f"QLearningSelector {self.scope!r}: no repository to save to")
        self._repository.save(self.snapshot(at))
        self._saved_updates = self.updates
        self.saves += 1
        if self._handle is not None:
            self._handle.count("saves")
            self._handle.gauge("table_cells", len(self.table))

    def restore(self) -> bool:
        """Take up the scope's stored table; False when none was saved. A corrupt table raises
        :class:`~quantum_trader.agents.qtable.CorruptQTableError`."""
        if self._repository is None:
            return False
        snapshot = self._repository.load(self.scope)
        if snapshot is None:
            return False
        self.table = QTable.from_snapshot(snapshot, self.config.state)
        self.updates, self.decisions = snapshot.updates, snapshot.decisions
        self.trades_learnt = snapshot.trades
        self._last_time = max(self._last_time, snapshot.saved_at)
        self._saved_updates = snapshot.updates
        if self._handle is not None:
            self._handle.gauge("restored_updates", snapshot.updates)
            self._handle.gauge("table_cells", len(self.table))
            self._handle.gauge("epsilon_permille", round(1000 * self.epsilon))
        return True

    def close(self, at: int) -> bool:
        """Shutdown: save what was learnt since the last save (True when it saved)."""
        if self._repository is None or self.updates == self._saved_updates:
            return False
        self.save(at)
        return True

    def frozen(self, *, name: str | None = None) -> QLearningSelector:
        """A greedy (ε = 0), non-learning copy of this learner's current table: for a held-out
        evaluation, or a shadow that must not change while it is judged."""
        cfg = replace(self.config, epsilon_start=0.0, epsilon_end=0.0)
        out = QLearningSelector(
            cfg, seed=self._seed, scope=self.scope, name=name or self.name, learning=False
        )
        out.table = self.table.copy()
        out.updates, out.trades_learnt = self.updates, self.trades_learnt
        return out


def qlearning_component(selector: QLearningSelector, *, module: str = MODULE) -> Hooks:
    """The selector as a run component (``lifecycle/``): at start it restores its scope's table
    and follows closed trades on the run's bus; at stop it stops following and saves at the
    clock's now."""
    held: list[tuple[ComponentContext, list[Subscription]]] = []

    def start(ctx: ComponentContext) -> None:
        selector.restore()
        held.append((ctx, selector.attach(ctx.bus)))

    def stop() -> None:
        while held:
            ctx, subscriptions = held.pop()
            for subscription in subscriptions:
                subscription.cancel()
            selector.close(ctx.clock.now())

    return Hooks(module, start=start, stop=stop)
