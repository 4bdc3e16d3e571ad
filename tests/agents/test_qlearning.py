"""The Q-learning selector (module 14): the choice, the learning from closed trades, the
saves, the evidence, and the errors on bad input."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest

from quantum_trader.agents.qlearning import (
    MODULE,
    QLearningConfig,
    QLearningSelector,
    qlearning_component,
    trade_reward,
)
from quantum_trader.agents.qstate import QState, QStateConfig, encode
from quantum_trader.agents.qtable import QTableSnapshot
from quantum_trader.bus import topics
from quantum_trader.bus.in_process import HandlerError, InProcessBus
from quantum_trader.bus.typed import publish_event
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.domain.decisions import DecisionRef
from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.events import OrderFilled
from quantum_trader.domain.market import Regime
from quantum_trader.domain.orders import Fill, Order, OrderStatus, OrderType, Side
from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.positions import Trade
from quantum_trader.execution.events import (
    FILL_EVENT_KEYS,
    ORDER_KEYS,
    fill_event_values,
    order_values,
)
from quantum_trader.lifecycle.component import ComponentContext
from quantum_trader.status.registry import StatusRegistry
from quantum_trader.strategy.selector import STRATEGY_NAMES, SelectionContext, StrategySelector

GREEDY = QLearningConfig(epsilon_start=0.0, epsilon_end=0.0)


def ctx(time: int = 0, regime: Regime | None = Regime.BULL, *, symbol: str = "BTCUSDT",
        vol: float = 0.5, conf: float = 0.1, pnl: float = 0.0) -> SelectionContext:  # fmt: skip
    return SelectionContext(symbol, time, regime, None, vol, conf, pnl, RiskMode.MODERATE)


H = 3_600_000


def trade(decision: str, strategy: str, *, pnl: float = 10.0, fees: float = 0.0,
          symbol: str = "BTCUSDT", selector: str = "qlearning", closed: int | None = None
          ) -> Trade:  # fmt: skip
    """A long of 1 at 1,000 opened by ``decision`` (``SYMBOL@time``), filled at the next open and
    closed an hour later unless ``closed`` says when: the reward is (pnl - fees) / 1,000."""
    ref = DecisionRef(decision, strategy, selector, "fixed_fractional")
    opened = int(decision.rpartition("@")[2]) if decision.rpartition("@")[2].isdigit() else 0
    return Trade(f"T-{decision}", symbol, Side.BUY, 1.0, 1000.0, 1000.0 + pnl, opened + 1,
                 closed if closed is not None else opened + H, pnl, fees, strategy=strategy,
                 decision=ref)  # fmt: skip


class MemoryRepository:
    def __init__(self) -> None:
        self.saved: list[QTableSnapshot] = []

    def save(self, snapshot: QTableSnapshot) -> None:
        self.saved.append(snapshot)

    def load(self, scope: str) -> QTableSnapshot | None:
        mine = [s for s in self.saved if s.scope == scope]
        return mine[-1] if mine else None


def test_it_is_a_strategy_selector_and_its_state_has_the_four_parts() -> None:
    selector: StrategySelector = QLearningSelector(QLearningConfig(), seed=0)
    assert selector.name == "qlearning"
    cfg = QStateConfig()
    assert cfg.state_count() == 5 * 3 * 3 * 3
    assert encode(ctx(vol=0.1, conf=0.01, pnl=-1), cfg) == QState("BULL", 0, 0, -1)
    assert encode(ctx(regime=None, vol=2 / 3, conf=0.15, pnl=5), cfg) == QState("NONE", 2, 2, 1)
    assert encode(ctx(regime=Regime.SIDEWAYS, vol=0.5, conf=0.1), cfg).key == "SIDEWAYS|v1|c1|p0"
    with pytest.raises(DomainValidationError, match=r"vol_percentile=nan.*BTCUSDT at 5"):
        encode(ctx(5, vol=math.nan), cfg)


def test_epsilon_decays_linearly_per_trade_learnt_from_a_tenth_to_two_percent() -> None:
    cfg = QLearningConfig(epsilon_decay_trades=400)
    sel = QLearningSelector(cfg, seed=0)
    seen = []
    for i in range(500):
        seen.append(sel.epsilon)
        t = (i + 1) * 10 * H
        sel.select(ctx(t - 2 * H))  # flat, and what it chose opened nothing: idle credit
        sel.select(ctx(t))
        sel.observe(trade(f"BTCUSDT@{t}", "Breakout", pnl=i % 3 - 1))
    assert seen[0] == 0.1 and seen[200] == pytest.approx(0.06) and seen[400:] == [0.02] * 100
    assert all(a >= b for a, b in itertools.pairwise(seen))
    assert sel.trades_learnt == 500 and sel.updates > 500  # idle credits are updates too
    for _ in range(3):
        sel.update("BULL|v1|c1|p0", "Breakout", 0.0)  # nor do other updates
    assert sel.epsilon == 0.02


def test_the_same_seed_gives_the_same_choices_and_explores_at_epsilon() -> None:
    def run(seed: int) -> list[str]:
        sel = QLearningSelector(QLearningConfig(epsilon_start=0.3, epsilon_end=0.3), seed=seed)
        sel.update("BULL|v1|c1|p0", "MeanReversion", 0.01)  # the greedy choice in that state
        out = [sel.select(ctx(t)).strategy for t in range(4_000)]
        share = sel.explorations / sel.decisions
        assert 0.27 < share < 0.33, share
        greedy = out.count("MeanReversion") / len(out)  # 0.7 + 0.3 / 4
        assert 0.75 < greedy < 0.80, greedy
        return out

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_greedy_prefers_the_best_value_and_neutral_over_a_loser() -> None:
    sel = QLearningSelector(GREEDY, seed=3)
    bull, side = ctx(regime=Regime.BULL), ctx(regime=Regime.SIDEWAYS)
    sel.update(sel.state_of(bull).key, "TrendFollowing", 0.004)
    sel.update(sel.state_of(bull).key, "Breakout", 0.001)
    for s in ("TrendFollowing", "MeanReversion", "Breakout"):
        sel.update(sel.state_of(side).key, s, -0.002)  # every strategy loses: stand aside
    assert {sel.select(replace(bull, time=t)).strategy for t in range(50)} == {"TrendFollowing"}
    assert {sel.select(replace(side, time=t)).strategy for t in range(50, 99)} == {"Neutral"}
    unseen = {sel.select(ctx(t, Regime.VOLATILE)).strategy for t in range(100, 300)}
    assert unseen == set(STRATEGY_NAMES)  # all tied at 0: the draw breaks ties
    probs = sel.probabilities(bull)
    assert probs["TrendFollowing"] == 1.0 and sum(probs.values()) == 1.0


def test_probabilities_are_the_propensities_of_the_epsilon_greedy_draw() -> None:
    sel = QLearningSelector(QLearningConfig(), seed=0)  # epsilon 0.1
    sel.update(sel.state_of(ctx()).key, "Breakout", 0.01)
    eps = sel.epsilon
    assert eps == 0.1  # no trade learnt yet
    probs = sel.probabilities(ctx())
    assert probs == pytest.approx(
        {"TrendFollowing": eps / 4, "MeanReversion": eps / 4, "Breakout": 1 - 3 * eps / 4,
         "Neutral": eps / 4}
    )  # fmt: skip
    sel.update(sel.state_of(ctx()).key, "TrendFollowing", 0.01)  # now tied with Breakout
    probs = sel.probabilities(ctx())
    assert (
        probs["TrendFollowing"]
        == probs["Breakout"]
        == pytest.approx((1 - sel.epsilon) / 2 + sel.epsilon / 4)
    )


def test_a_closed_trade_updates_the_state_of_the_decision_that_opened_it() -> None:
    clock = SimulatedClock(0)
    bus = InProcessBus(clock)
    status = StatusRegistry(clock)
    sel = QLearningSelector(QLearningConfig(), seed=0, handle=status.register(
        MODULE, enabled=True, reason="challenger"))  # fmt: skip
    sel.attach(bus)
    opened = ctx(3_600_000, Regime.SIDEWAYS, vol=0.9, conf=0.2, pnl=-3.0)
    sel.select(opened)
    for t in range(2, 6):  # later decisions in other states
        sel.select(ctx(t * 3_600_000, Regime.BULL, pnl=4.0))
    publish_event(bus, topics.TRADE_CLOSED, trade("BTCUSDT@3600000", "MeanReversion", pnl=6,
                                                  fees=1), source="execution")  # fmt: skip
    assert sel.table.q("SIDEWAYS|v2|c2|p-", "MeanReversion") == pytest.approx(0.005)
    assert sel.table.visits("SIDEWAYS|v2|c2|p-", "MeanReversion") == 1 and len(sel.table) == 1
    # a trade from a decision it never saw, and one not from the decision path, teach nothing
    publish_event(bus, topics.TRADE_CLOSED, trade("BTCUSDT@1", "Breakout"), source="execution")
    assert not sel.observe(replace(trade("BTCUSDT@2", "Breakout"), decision=None))
    counters = status.get(MODULE).status.counters
    assert counters["decisions"] == 5 and counters["updates"] == 1
    assert counters["updates_skipped_unknown_decision"] == 1 and counters["table_cells"] == 1
    assert counters["selected_" + sel.select(ctx(30 * H)).strategy] >= 1


def test_flat_choices_that_opened_nothing_are_credited_zero_on_policy_only() -> None:
    sel = QLearningSelector(GREEDY, seed=0)
    side = ctx(regime=Regime.SIDEWAYS)
    key = sel.state_of(side).key
    for s in ("TrendFollowing", "MeanReversion", "Breakout"):
        sel.update(key, s, 0.01 if s == "Breakout" else -0.01)  # Breakout is the greedy choice
    for t in (1, 2, 3):
        assert sel.select(replace(side, time=t * H)).strategy == "Breakout"
    assert sel.observe(trade("BTCUSDT@10800000", "Breakout", pnl=4.0))  # opened at the third
    # two idle credits (0) and the trade (0.004) on top of the first reward: the mean of four
    assert sel.table.visits(key, "Breakout") == 4
    assert sel.table.q(key, "Breakout") == pytest.approx((0.01 + 0 + 0 + 0.004) / 4)
    # another selector's trade: what this one chose before it is not what ran
    other = QLearningSelector(GREEDY, seed=0)
    other.update(key, "Breakout", 0.01)
    for t in (1, 2, 3):
        other.select(replace(side, time=t * H))
    other.observe(trade("BTCUSDT@10800000", "Breakout", pnl=4.0, selector="regime_rules"))
    assert other.table.visits(key, "Breakout") == 2 and other.updates == 2


def test_the_strategy_that_opened_a_position_holds_it_until_its_trade_closes() -> None:
    clock = SimulatedClock(0)
    bus = InProcessBus(clock)
    sel = QLearningSelector(GREEDY, seed=0)
    sel.attach(bus)
    bull = ctx(regime=Regime.BULL)
    sel.update(sel.state_of(bull).key, "Breakout", 0.01)
    ref = DecisionRef("BTCUSDT@3600000", "Breakout", "qlearning", "fixed_fractional")
    entry = Order("E1", "BTCUSDT", Side.BUY, OrderType.MARKET, 1.0, H, decision=ref)
    # published as the order manager publishes them (the fast path, its own encoding)
    bus.publish_record(topics.ORDER_SUBMITTED.name, ORDER_KEYS, order_values(entry), source="x")
    sel.update(sel.state_of(bull).key, "TrendFollowing", 0.05)  # now the greedy choice
    filled = replace(entry, status=OrderStatus.FILLED, filled_quantity=1.0, average_price=1e3)
    fill = Fill("F1", "E1", "BTCUSDT", Side.BUY, 1.0, 1000.0, 0.5, 2 * H, False)
    bus.publish_record(topics.ORDER_FILLED.name, FILL_EVENT_KEYS, fill_event_values(fill, filled),
                       source="x")  # fmt: skip
    held = sel.select(replace(bull, time=3 * H))
    assert held.strategy == "Breakout" and held.reason.startswith("holding the Breakout position")
    assert sel.probabilities(bull)["Breakout"] == 1.0
    publish_event(bus, topics.TRADE_CLOSED, trade("BTCUSDT@3600000", "Breakout",
                  closed=4 * H), source="execution")  # fmt: skip
    assert sel.select(replace(bull, time=5 * H)).strategy == "TrendFollowing"  # released
    # an exit order, a bracket, or another selector's entry holds nothing
    for i, order in enumerate([
        replace(entry, decision=replace(ref, sizer="exit")),
        replace(entry, reduce_only=True),
        replace(entry, decision=replace(ref, selector="regime_rules")),
    ]):  # fmt: skip
        cid = f"X{i}"
        publish_event(bus, topics.ORDER_SUBMITTED, replace(order, client_order_id=cid), source="x")
        publish_event(bus, topics.ORDER_FILLED, OrderFilled("F", cid, "BTCUSDT", Side.BUY, 1.0,
                      1000.0, 0.5, 6 * H, False, OrderStatus.FILLED, 1.0, 1000.0), source="x")  # fmt: skip
    assert sel.select(replace(bull, time=7 * H)).strategy == "TrendFollowing"


def test_a_decision_asked_twice_keeps_the_last_answer_and_time_cannot_go_back() -> None:
    sel = QLearningSelector(GREEDY, seed=0)
    key = sel.state_of(ctx()).key
    sel.update(key, "Breakout", 0.01)
    sel.select(ctx(H))
    sel.update(key, "MeanReversion", 0.02)
    assert sel.select(ctx(H)).strategy == "MeanReversion"  # the same decision, asked again
    assert sel.observe(trade(f"BTCUSDT@{H}", "MeanReversion", pnl=2.0))
    assert sel.table.visits(key, "MeanReversion") == 2 and sel.table.visits(key, "Breakout") == 1
    with pytest.raises(ValueError, match="BTCUSDT selected at 5, before its last selection"):
        sel.select(ctx(5 * H))
        sel.select(ctx(5))


def test_step_size_is_the_running_mean_then_a_constant_floor() -> None:
    sel = QLearningSelector(QLearningConfig(learning_rate=0.25), seed=0)
    values = [sel.update("NONE|v0|c0|p0", "Breakout", r) for r in (0.01, 0.03, 0.05, 0.09)]
    # 1/1, 1/2, 1/3 (exact mean of the first three), then the floor 0.25 beats 1/4
    assert values[:3] == pytest.approx([0.01, 0.02, 0.03])
    assert values[3] == pytest.approx(0.03 + 0.25 * (0.09 - 0.03))


def test_a_positive_discount_bootstraps_on_the_symbols_latest_state() -> None:
    sel = QLearningSelector(replace(GREEDY, discount=0.5), seed=0)
    sel.update("BEAR|v1|c1|p0", "TrendFollowing", 0.02)
    sel.select(ctx(1, Regime.SIDEWAYS))
    sel.select(ctx(2, Regime.BEAR))  # the symbol's state when the trade closes
    sel.observe(trade("BTCUSDT@1", "MeanReversion", pnl=1.0))
    assert sel.table.q("SIDEWAYS|v1|c1|p0", "MeanReversion") == pytest.approx(0.001 + 0.5 * 0.02)


def test_bad_input_gets_an_error_that_says_what_and_where() -> None:
    clock = SimulatedClock(0)
    bus = InProcessBus(clock)
    sel = QLearningSelector(QLearningConfig(), seed=0)
    sel.attach(bus)
    sel.select(ctx(1))
    with pytest.raises(HandlerError) as raised:
        publish_event(bus, topics.TRADE_CLOSED, trade("BTCUSDT@1", "Scalping"), source="x")
    assert "T-BTCUSDT@1 of BTCUSDT (decision BTCUSDT@1) names unknown strategy 'Scalping'" in str(
        raised.value.failures[0][2]
    )
    with pytest.raises(DomainValidationError, match=r"non-finite Q-learning reward.*T-BTCUSDT@1"):
        sel.observe(trade("BTCUSDT@1", "Breakout", fees=math.inf))
    with pytest.raises(DomainValidationError, match=r"reward=nan: must be finite \(S, Breakout"):
        sel.update("S", "Breakout", math.nan)
    with pytest.raises(
        ValueError, match=r"decision 1700\): the decision id is not 'BTCUSDT@<time>'"
    ):
        sel.observe(trade("1700", "Breakout"))
    with pytest.raises(ValueError, match="unknown strategy 'Grid' in state 'S'"):
        sel.update("S", "Grid", 0.0)
    assert sel.updates == 0 and len(sel.table) == 0  # nothing half-applied
    with pytest.raises(DomainValidationError, match="learning_rate=0"):
        QLearningConfig(learning_rate=0)
    with pytest.raises(DomainValidationError, match="vol_edges"):
        QStateConfig(vol_edges=(0.5, 0.2))


def test_trade_reward_is_net_pnl_over_entry_notional() -> None:
    t = replace(trade("X@1", "Breakout", pnl=30.0, fees=2.0), quantity=2.0, funding=1.0)
    assert trade_reward(t) == pytest.approx((30.0 - 2.0 - 1.0) / 2_000.0)


def test_it_saves_every_100_updates_and_at_shutdown_and_restores_at_start() -> None:
    repo = MemoryRepository()
    sel = QLearningSelector(QLearningConfig(), seed=0, repository=repo, scope="run-1")
    for i in range(250):
        sel.select(ctx(i, pnl=i % 3 - 1))
        sel.observe(trade(f"BTCUSDT@{i}", STRATEGY_NAMES[i % 3], pnl=i % 7 - 3))
    assert [s.updates for s in repo.saved] == [100, 200]
    assert repo.saved[-1].saved_at == 199 + H  # the latest engine time seen: trade 199's close
    assert sel.close(at=999) and [s.updates for s in repo.saved] == [100, 200, 250]
    assert not sel.close(at=1_000)  # nothing new: no second shutdown save
    again = QLearningSelector(QLearningConfig(), seed=0, repository=repo, scope="run-1")
    assert again.restore()
    assert again.table.cells() == sel.table.cells()
    assert (again.updates, again.decisions, again.epsilon) == (250, 250, sel.epsilon)
    assert not QLearningSelector(QLearningConfig(), seed=0, repository=repo, scope="x").restore()


def test_a_frozen_copy_is_greedy_and_learns_nothing() -> None:
    sel = QLearningSelector(QLearningConfig(), seed=0)
    sel.update(sel.state_of(ctx()).key, "Breakout", 0.01)
    frozen = sel.frozen(name="qlearning-eval")
    assert frozen.epsilon == 0.0 and frozen.name == "qlearning-eval"
    assert {frozen.select(ctx(t)).strategy for t in range(100)} == {"Breakout"}
    assert not frozen.observe(trade("BTCUSDT@5", "Breakout"))
    sel.update(sel.state_of(ctx()).key, "TrendFollowing", 1.0)
    assert frozen.select(ctx(200)).strategy == "Breakout"  # its own copy of the table


def test_as_a_component_it_restores_at_start_and_saves_at_stop() -> None:
    repo = MemoryRepository()
    first = QLearningSelector(QLearningConfig(), seed=0, repository=repo, scope="s")
    first.update("BULL|v1|c1|p0", "Breakout", 0.01)
    first.save(at=5)
    clock = SimulatedClock(10)
    context = ComponentContext(clock, Scheduler(clock), InProcessBus(clock), StatusRegistry(clock))
    sel = QLearningSelector(QLearningConfig(), seed=0, repository=repo, scope="s")
    component = qlearning_component(sel)
    assert component.name == MODULE
    component.start(context)
    assert sel.updates == 1 and sel.table.q("BULL|v1|c1|p0", "Breakout") == 0.01
    sel.select(ctx(20))
    publish_event(context.bus, topics.TRADE_CLOSED, trade("BTCUSDT@20", "Breakout"), source="x")
    clock.advance_to(30)
    component.stop()
    assert repo.saved[-1].updates == 2 and repo.saved[-1].saved_at == 30
    publish_event(context.bus, topics.TRADE_CLOSED, trade("BTCUSDT@20", "Breakout"), source="x")
    assert sel.updates == 2  # no longer subscribed
