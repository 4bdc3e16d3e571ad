"""The router's state survives a restart (``experiments/router.py``, ``RouterState``).

A world of two arms and a real account on two symbols, on SQLite: the allocated arm buys BTC
(the real account, 30 % of the arm's equity, follows a candle late on a steep rise, so the two
accounts' equity drifts apart and the unit's fixed ratio matters), buys ETH beyond the risk
engine's order limit (the real entry is trimmed and must not be topped up), then the
experiment stops and the arm sells both (the router closes what it opened and lets go).

* **Resumed**: the real account and the feed go on (a venue's account, a session restored
  from its checkpoint) while the router is rebuilt from the store, as a restarted process
  builds it, after every candle in turn: the orders asked, the real positions and which
  symbols the router owns are those of a router never interrupted. A router rebuilt without
  the store does not do so (the test can tell).
* **Replayed**: a restarted main job replays its days from the start on fresh accounts: the
  restored router trades them the same way and counts no order twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.decision.views import PortfolioRiskView
from quantum_trader.domain.orders import OrderIntent, OrderType, Side
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.engine.trader import TradingContext
from quantum_trader.experiments.allocation import AllocationConfig
from quantum_trader.experiments.experiment import Experiment
from quantum_trader.experiments.feed import ExperimentFeed
from quantum_trader.experiments.router import (
    PositionRouter,
    RealAccount,
    RiskCheckedAccount,
    RouterState,
    RouterStateStore,
    Sent,
)
from quantum_trader.experiments.spec import ArmSpec, ExperimentSpec
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.memory_journal import MemoryRiskJournal
from quantum_trader.risk.policy_source import FixedPolicySource
from tests.execution.helpers import HOUR, Desk, make_desk
from tests.risk.fakes import MemoryKillSwitchStore

BTC, ETH = "BTCUSDT", "ETHUSDT"
HOURS = 16
#: BTC climbs 3,000 an hour (the real account, a candle late, misses a candle of it); ETH is flat
PRICES = {BTC: [50_000.0 + 3_000.0 * i for i in range(HOURS)], ETH: [3_000.0] * HOURS}
#: the arm's orders after hour i: (symbol, side, quantity, reduce only)
ARM_ORDERS = {
    1: [(BTC, Side.BUY, 0.5, False)],  # the real 0.15 BTC (8,400) passes the order limit
    3: [(ETH, Side.BUY, 15.0, False)],  # the real ~4.4 ETH (13,300) does not: trimmed
    11: [(BTC, Side.SELL, 0.5, True)],
    12: [(ETH, Side.SELL, 15.0, True)],
}
STOP_AFTER = 9  # the experiment stops after this hour: the router keeps what it holds
RISK = RiskConfig(max_order_notional=13_000.0)


@dataclass
class Spy:
    """The real account as the router sees it, noting every order it asks for."""

    inner: RealAccount
    asked: list[tuple[int, str, str, float, bool, str]] = field(default_factory=list)
    hour: int = 0

    @property
    def equity(self) -> float:
        return self.inner.equity

    def quantity(self, symbol: str) -> float:
        return self.inner.quantity(symbol)

    def tradable(self, symbol: str, quantity: float) -> float:
        return self.inner.tradable(symbol, quantity)

    def send(self, intent: OrderIntent) -> Sent:
        outcome = self.inner.send(intent)
        self.asked.append((self.hour, intent.symbol, intent.side.value,
                           round(intent.quantity, 9), intent.reduce_only, outcome.value))  # fmt: skip
        return outcome


@dataclass
class World:
    arm: Desk
    other: Desk
    real: Desk
    view: PortfolioRiskView
    feed: ExperimentFeed
    spy: Spy
    router: PositionRouter
    #: after each hour and symbol: (hour, symbol, real quantity, whether the router owns it)
    seen: list[tuple[int, str, float, bool]] = field(default_factory=list)
    #: after each hour: the real account's equity over the arm's
    ratios: list[float] = field(default_factory=list)

    def hour(self, i: int) -> None:
        """Hour ``i``: every desk takes both candles, the arm places its orders, then the feed
        and the router act on each symbol."""
        t = i * HOUR
        self.spy.hour = i
        for symbol in (BTC, ETH):
            p = PRICES[symbol][i]
            for desk in (self.arm, self.other, self.real):
                desk.bar(symbol, t, p, p * 1.001, p * 0.999, p)
        for symbol, side, quantity, reduce_only in ARM_ORDERS.get(i, []):
            self.arm.orders.submit(
                symbol, side, quantity, OrderType.MARKET, reduce_only=reduce_only
            )
        if i == STOP_AFTER:
            self.feed.experiment.stop(t + HOUR, "enough")
        for symbol in (BTC, ETH):
            p = PRICES[symbol][i]
            self.view.last_close[symbol] = t + HOUR
            self.feed.on_bar(symbol, t, t + HOUR, p, p, p, p, 1.0)
            self.router.on_bar(symbol, t, t + HOUR, p, p, p, p, 1.0)
            self.seen.append(
                (i, symbol, round(self.real.portfolio.quantity(symbol), 9),
                 self.router.routes(symbol))
            )  # fmt: skip
        self.ratios.append(self.real.portfolio.equity / self.arm.portfolio.equity)

    def restart_router(self, store: RouterStateStore | None) -> None:
        """A new router on the same real account and feed, as a restarted process builds it."""
        self.router = PositionRouter(self.feed, self.spy, store=store)


def _world(store: SqlExperimentStore, name: str, *, router_store: bool = True) -> World:
    spec = ExperimentSpec(
        name, (ArmSpec("a"), ArmSpec("b")),
        allocation=AllocationConfig(kind="fixed", weights=(1.0, 1e-9)),
    )  # fmt: skip
    experiment = Experiment.start(store, spec, 0)
    arm, other, real = make_desk(), make_desk(), make_desk(30_000.0)
    feed = ExperimentFeed(experiment, {"a": arm.portfolio, "b": other.portfolio}, str)
    view = PortfolioRiskView(TradingContext(real.orders, real.portfolio))
    risk = RiskEngine(
        config=RISK,
        portfolio=view,
        policy=FixedPolicySource(TradingPolicy()),
        kill_switch=KillSwitch(MemoryKillSwitchStore(), real.clock),
        journal=MemoryRiskJournal(),
        clock=real.clock,
    )
    spy = Spy(RiskCheckedAccount(real.portfolio, real.orders, risk))
    router = PositionRouter(feed, spy, store=store if router_store else None)
    return World(arm, other, real, view, feed, spy, router)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path: Path = tmp_path_factory.mktemp("router") / "qt.sqlite"
    return open_database(f"sqlite:///{path}")


def _uninterrupted(store: SqlExperimentStore, name: str) -> World:
    w = _world(store, name)
    for i in range(HOURS):
        w.hour(i)
    return w


def test_the_world_exercises_every_part_of_the_routers_memory(db: Engine) -> None:
    """The reference run itself: the BTC unit's ratio drifted from what the accounts' equity
    says later, the ETH entry was trimmed and not topped up, both positions outlived the
    experiment's stop and were closed by the router, which then let the symbols go."""
    store = SqlExperimentStore(db)
    w = _uninterrupted(store, "reference")
    asked = w.spy.asked
    assert asked == [
        (2, BTC, "BUY", 0.15, False, "sent"),  # 0.5 x 30,000 / 100,000
        (4, ETH, "BUY", 4.435, False, "trimmed"),  # 15 x the ratio at hour 4; 4.333 approved
        (12, BTC, "SELL", 0.15, True, "sent"),  # after the stop: the arm sold, the router closes
        (13, ETH, "SELL", 4.333, True, "sent"),  # never topped up to 4.435
    ]
    assert (w.router.sent, w.router.trimmed, w.router.refused) == (4, 1, 0)
    # mid-unit, a ratio taken from the accounts' equity then would ask for a step less BTC
    assert w.ratios[2] == pytest.approx(0.3, abs=1e-3)
    assert 0.5 * w.ratios[2] - 0.5 * w.ratios[8] > 0.001
    # the router owns both symbols until the real positions it opened are closed, then not
    owned = {s: [i for i, sym, _, routes in w.seen if sym == s and routes] for s in (BTC, ETH)}
    assert owned == {BTC: list(range(13)), ETH: list(range(14))}
    assert w.real.portfolio.quantity(BTC) == w.real.portfolio.quantity(ETH) == 0.0


def test_a_router_built_on_the_store_takes_up_every_field_of_the_state_stored(
    db: Engine,
) -> None:
    store = SqlExperimentStore(db)
    w = _world(store, "round-trip")
    assert w.router.resumed is None and w.router.state() == RouterState()
    for i in range(7):
        w.hour(i)
    state = w.router.state()
    btc, eth = f"{BTC}@{3 * HOUR}", f"{ETH}@{5 * HOUR}"  # the units drawn after hours 2 and 4
    assert sorted(w.feed.experiment.assignments) == [btc, eth]
    assert state == RouterState(
        # each unit's ratio is the accounts' equity ratio at the end of the hour it was drawn
        units={btc: (BTC, w.ratios[2], 3 * HOUR), eth: (ETH, w.ratios[4], 5 * HOUR)},
        capped=frozenset({eth}),
        opened=frozenset({BTC, ETH}),
        routed={BTC: 3 * HOUR, ETH: 5 * HOUR},
        sent=2,
        refused=0,
        trimmed=1,
    )
    assert store.load_router_state("round-trip") == state  # stored as it changed
    restarted = PositionRouter(w.feed, w.spy, store=store)
    assert restarted.resumed == state and restarted.state() == state
    assert (restarted.sent, restarted.refused, restarted.trimmed) == (2, 0, 1)


def test_a_router_rebuilt_from_the_store_after_any_candle_goes_on_as_if_never_stopped(
    db: Engine,
) -> None:
    store = SqlExperimentStore(db)
    reference = _uninterrupted(store, "uninterrupted")
    for k in range(HOURS - 1):
        w = _world(store, f"restart-{k}")
        for i in range(HOURS):
            w.hour(i)
            if i == k:
                w.restart_router(store)
        assert w.spy.asked == reference.spy.asked, k
        assert w.seen == reference.seen, k
        assert w.router.state() == reference.router.state(), k
        if k >= 2:  # it took up what the first router had stored
            assert w.router.resumed is not None and w.router.resumed.sent >= 1, k


@pytest.mark.parametrize("k", [4, 8, 10])
def test_a_router_rebuilt_without_its_state_would_trade_differently(db: Engine, k: int) -> None:
    """The control: the same restart with a router that starts fresh (no store) retakes the
    BTC ratio from the equity of the moment and sells a step, tops the trimmed ETH entry up,
    and, having forgotten that it opened BTC, lets it go after the stop without closing it."""
    store = SqlExperimentStore(db)
    reference = _uninterrupted(store, f"control-reference-{k}")
    w = _world(store, f"control-{k}", router_store=False)
    for i in range(HOURS):
        w.hour(i)
        if i == k:
            w.restart_router(None)
    extra = [a[:3] + a[4:] for a in w.spy.asked if a not in reference.spy.asked]
    assert (k + 1, BTC, "SELL", True, "sent") in extra
    assert (k + 1, ETH, "BUY", False, "sent") in extra
    assert reference.real.portfolio.quantity(BTC) == 0.0
    assert w.real.portfolio.quantity(BTC) == pytest.approx(0.15, abs=0.0025)
    assert not w.router.routes(BTC)  # production's again, with a position it did not open


def test_a_restart_that_replays_from_the_start_counts_no_order_twice(db: Engine) -> None:
    """A restarted main job replays its days on fresh accounts, arms and feed (the experiment's
    units come back from its store): the restored router trades them as the first did and
    its counters are the first's, not their sum."""
    store = SqlExperimentStore(db)
    reference = _uninterrupted(store, "replayed-reference")
    first = _world(store, "replayed")
    for i in range(7):
        first.hour(i)
    second = _world(store, "replayed")  # the same experiment and store, everything else new
    assert second.router.resumed == first.router.state()
    for i in range(HOURS):
        second.hour(i)
    assert second.spy.asked == reference.spy.asked
    assert second.seen == reference.seen
    assert second.router.state() == reference.router.state()
    assert (second.router.sent, second.router.trimmed) == (4, 1)
    assert sorted(second.feed.experiment.assignments) == sorted(
        reference.feed.experiment.assignments
    )
