"""Module 14, ``rl_v2_qlearning``: a tabular Q-learning strategy selector, the challenger to the
PPO selector (issue 18).

**Choice.** Per decision it encodes the :class:`SelectionContext` as a discrete state
(``agents/qstate.py``: regime × volatility bucket × confidence bucket × sign of recent PnL) and
picks one of TrendFollowing / MeanReversion / Breakout / Neutral epsilon-greedily: with
probability ε a uniform draw, else the strategy of highest value (ties drawn uniformly). ε
decays **linearly per update** (per closed trade learnt from, not per decision: a decision that
opens nothing teaches nothing) from ``epsilon_start`` 0.1 to ``epsilon_end`` 0.02 over
``epsilon_decay_updates`` updates, then stays there (:meth:`QLearningConfig.epsilon`). Every
draw comes from the selector's own seeded ``numpy`` Generator: the same seed and the same
inputs give the same choices.

**Learning.** It follows ``execution.trade.closed``. Every selection remembers its state under
the decision id (``SYMBOL@time``, the id the decision path gives the order); a closed trade
carries the :class:`~quantum_trader.domain.decisions.DecisionRef` of the decision that opened
it, so the update goes to (the state of that decision, the strategy that opened the trade).
The strategy is the one the trade names, not necessarily the one this learner chose: Q-learning
is off-policy, so a challenger in the shadow learns from the trades the serving selector made,
as long as it was asked at the same decisions. A trade whose decision it never saw (opened
before a restart, or by another process) is skipped and counted.

**Reward.** The trade's net PnL (after fees and funding) as a fraction of its entry notional
(quantity × entry price) — the project's net trade return (``strategy/expectancy.py``). It
measures the strategy's entries and exits, not the size the sizer and the risk mode gave them:
dividing by equity would let a TURBO stretch flatter a strategy and a CONSERVATIVE one hide it;
an R-multiple needs the stop distance, which a trade does not carry.

**Bellman update and the next state.** ``Q(s,a) += α·(r + γ·max_a' Q(s',a') - Q(s,a))`` with
``α = max(1/n, learning_rate)`` (n: the cell's visits, this one included: the exact mean of the
first rewards, then a constant step that follows a market that changes). The next state ``s'``
is the latest state this learner saw for the trade's symbol, i.e. the state it is in when the
outcome arrives. The default discount is **0** — a one-step, contextual-bandit update — and
that is argued, not assumed: the state (regime, volatility, model confidence) is the market's,
which the choice of strategy does not move, and only the PnL sign is touched by it; trades
overlap and a decision's reward arrives after many later decisions were already taken, so a
"next state" of the trade is not the state the choice led to. Bootstrapping on it would add
noise without modelling any real consequence of the action. ``discount > 0`` is available.

**Persistence.** Through a :class:`~quantum_trader.agents.qtable.QTableRepository` (SQL adapter:
``adapters/sql/qtable_repository.py``) under a scope (a run id or a named table): restored at
start, saved after every ``save_every`` (100) updates and at shutdown, each save one
transaction, so at most ``save_every`` updates are lost to a kill.

**Evidence** on its :class:`ModuleHandle`: ``decisions``, ``explorations``,
``selected_<strategy>``, ``updates``, ``saves``, ``table_cells``, ``epsilon_permille``,
``updates_skipped_unknown_decision``, ``pending_evicted``, ``restored_updates``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np

from quantum_trader.agents.qstate import QState, QStateConfig, encode
from quantum_trader.agents.qtable import QTable, QTableRepository, QTableSnapshot
from quantum_trader.bus import topics
from quantum_trader.bus.port import EventBus, Subscription
from quantum_trader.bus.typed import subscribe_records
from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.positions import Trade
from quantum_trader.lifecycle.component import ComponentContext, Hooks
from quantum_trader.status.registry import ModuleHandle
from quantum_trader.strategy.selector import (
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
    learning_rate: float = 0.05
    #: γ of the Bellman target; 0: one-step (contextual bandit) update, see the module docstring
    discount: float = 0.0
    epsilon_start: float = 0.1
    epsilon_end: float = 0.02
    #: updates over which ε falls linearly from ``epsilon_start`` to ``epsilon_end``
    epsilon_decay_updates: int = 2_000
    #: a save after every this many updates (and one at shutdown)
    save_every: int = 100
    #: selections remembered while their trades may still close (oldest dropped first)
    max_pending: int = 100_000
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
        for knob in ("epsilon_decay_updates", "save_every", "max_pending"):
            if getattr(self, knob) < 1:
                raise DomainValidationError(name, knob, getattr(self, knob), "must be >= 1")

    def epsilon(self, updates: int) -> float:
        """ε after ``updates`` updates: linear from start to end, then flat."""
        if updates >= self.epsilon_decay_updates:
            return self.epsilon_end
        done = updates / self.epsilon_decay_updates
        return self.epsilon_start + (self.epsilon_end - self.epsilon_start) * done


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
        self._pending: OrderedDict[str, str] = OrderedDict()  # decision id -> state key
        self._latest: dict[str, str] = {}  # symbol -> its latest state key
        self.decisions = 0
        self.explorations = 0
        self.updates = 0
        self.saves = 0
        self.skipped = 0
        self._saved_updates = -1  # updates at the last save or restore (-1: none yet)
        self._last_time = 0

    # --- choice -----------------------------------------------------------------------------
    def state_of(self, context: SelectionContext) -> QState:
        return encode(context, self.config.state)

    @property
    def epsilon(self) -> float:
        return self.config.epsilon(self.updates)

    def select(self, context: SelectionContext) -> StrategyChoice:
        state = self.state_of(context).key
        self._remember(f"{context.symbol}@{context.time}", context.symbol, state)
        self._last_time = max(self._last_time, context.time)
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
        self.decisions += 1
        if self._handle is not None:
            self._handle.count("decisions")
            self._handle.count(f"selected_{strategy}")
            if explore:
                self._handle.count("explorations")
        return StrategyChoice(strategy, reason, self.name)

    def probabilities(self, context: SelectionContext) -> dict[str, float]:
        """The chance of each strategy at this context under the current ε (the propensity an
        off-policy estimate needs); draws nothing, counts nothing."""
        values = self.table.values(self.state_of(context).key)
        best = max(values)
        ties = sum(v == best for v in values)
        eps, k = self.epsilon, len(STRATEGY_NAMES)
        return {
            s: eps / k + ((1 - eps) / ties if v == best else 0.0)
            for s, v in zip(STRATEGY_NAMES, values, strict=True)
        }

    def _remember(self, decision_id: str, symbol: str, state: str) -> None:
        self._latest[symbol] = state
        if not self.learning:
            return
        pending = self._pending
        pending[decision_id] = state
        pending.move_to_end(decision_id)
        if len(pending) > self.config.max_pending:
            pending.popitem(last=False)
            if self._handle is not None:
                self._handle.count("pending_evicted")

    # --- learning ---------------------------------------------------------------------------
    def attach(self, bus: EventBus) -> Subscription:
        """Learn from ``execution.trade.closed``."""
        return subscribe_records(bus, topics.TRADE_CLOSED, self._on_trade)

    def _on_trade(self, trade: Trade) -> None:
        self.observe(trade)

    def observe(self, trade: Trade) -> bool:
        """Learn from one closed trade; False when it teaches nothing (not the decision path's,
        a decision this learner did not see, or a frozen learner)."""
        ref = trade.decision
        if ref is None or not self.learning:
            return False
        if ref.strategy not in STRATEGY_NAMES:
            raise ValueError(
                f"QLearningSelector: trade {trade.trade_id} of {trade.symbol} (decision "
                f"{ref.decision_id}) names unknown strategy {ref.strategy!r}; known "
                f"{list(STRATEGY_NAMES)}"
            )
        reward = trade_reward(trade)
        state = self._pending.pop(ref.decision_id, None)
        if state is None:
            self.skipped += 1
            if self._handle is not None:
                self._handle.count("updates_skipped_unknown_decision")
            return False
        self._last_time = max(self._last_time, trade.exit_time)
        self.update(state, ref.strategy, reward, self._latest.get(trade.symbol))
        return True

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
        out.updates = self.updates
        return out


def qlearning_component(selector: QLearningSelector, *, module: str = MODULE) -> Hooks:
    """The selector as a run component (``lifecycle/``): at start it restores its scope's table
    and follows closed trades on the run's bus; at stop it stops following and saves at the
    clock's now."""
    held: list[tuple[ComponentContext, Subscription]] = []

    def start(ctx: ComponentContext) -> None:
        selector.restore()
        held.append((ctx, selector.attach(ctx.bus)))

    def stop() -> None:
        while held:
            ctx, subscription = held.pop()
            subscription.cancel()
            selector.close(ctx.clock.now())

    return Hooks(module, start=start, stop=stop)
