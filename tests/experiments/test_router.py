"""Sub-ledgers and routing: two arms with opposite positions on one symbol each keep their own
PnL, and the real account holds the allocated arm's position only."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from quantum_trader.decision.views import PortfolioRiskView
from quantum_trader.domain.orders import OrderType, Side
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.engine.trader import TradingContext
from quantum_trader.experiments.allocation import AllocationConfig
from quantum_trader.experiments.experiment import Experiment
from quantum_trader.experiments.feed import ExperimentFeed
from quantum_trader.experiments.records import MemoryExperimentStore
from quantum_trader.experiments.router import PositionRouter, RiskCheckedAccount
from quantum_trader.experiments.spec import ArmSpec, ExperimentSpec
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.memory_journal import MemoryRiskJournal
from quantum_trader.risk.policy_source import FixedPolicySource
from tests.execution.helpers import HOUR, Desk, make_desk
from tests.risk.fakes import MemoryKillSwitchStore

SYMBOL = "BTCUSDT"
#: open, high, low, close per hour: a rise the long arm earns and the short arm loses
PRICES = [50_000.0 + 200.0 * i for i in range(12)]


@dataclass
class Books:
    long: Desk
    short: Desk
    real: Desk
    view: PortfolioRiskView
    router: PositionRouter


def _books(weights: tuple[float, float]) -> Books:
    spec = ExperimentSpec(
        "router", (ArmSpec("long"), ArmSpec("short")),
        allocation=AllocationConfig(kind="fixed", weights=weights),
    )  # fmt: skip
    experiment = Experiment.start(MemoryExperimentStore(), spec, 0)
    long, short, real = make_desk(), make_desk(), make_desk()
    feed = ExperimentFeed(
        experiment, {"long": long.portfolio, "short": short.portfolio}, lambda arm: f"{arm}@1"
    )
    view = PortfolioRiskView(TradingContext(real.orders, real.portfolio))
    risk = RiskEngine(
        config=RiskConfig(),
        portfolio=view,
        policy=FixedPolicySource(TradingPolicy()),
        kill_switch=KillSwitch(MemoryKillSwitchStore(), real.clock),
        journal=MemoryRiskJournal(),
        clock=real.clock,
    )
    router = PositionRouter(feed, RiskCheckedAccount(real.portfolio, real.orders, risk))
    return Books(long, short, real, view, router)


def _replay(b: Books) -> list[tuple[float, float, float]]:
    """Each hour: every desk takes the candle; the long arm buys after hour 1 and sells after
    hour 6, the short arm sells after hour 1 and holds; then the feed and the router act.
    Returns (long, short, real) quantities after each hour."""
    seen = []
    for i, price in enumerate(PRICES):
        t = i * HOUR
        for desk in (b.long, b.short, b.real):
            desk.bar(SYMBOL, t, price, price + 50.0, price - 50.0, price)
        if i == 1:
            b.long.orders.submit(SYMBOL, Side.BUY, 0.1, OrderType.MARKET)
            b.short.orders.submit(SYMBOL, Side.SELL, 0.1, OrderType.MARKET)
        if i == 6:
            b.long.orders.submit(SYMBOL, Side.SELL, 0.1, OrderType.MARKET, reduce_only=True)
        b.view.last_close[SYMBOL] = t + HOUR
        b.router.feed.on_bar(SYMBOL, t, t + HOUR, price, price, price, price, 1.0)
        b.router.on_bar(SYMBOL, t, t + HOUR, price, price, price, price, 1.0)
        seen.append(tuple(d.portfolio.quantity(SYMBOL) for d in (b.long, b.short, b.real)))
    return seen  # type: ignore[return-value]


def test_each_arm_keeps_its_own_pnl_and_the_real_account_follows_the_allocated_arm() -> None:
    b = _books((1.0, 1e-9))  # the long arm gets the unit
    seen = _replay(b)
    # the arms trade opposite positions on the same candles, each on its own ledger
    assert seen[3][0] == pytest.approx(0.1) and seen[3][1] == pytest.approx(-0.1)
    assert b.long.portfolio.equity > 100_000.0 > b.short.portfolio.equity
    assert b.long.portfolio.quantity(SYMBOL) == 0.0  # closed: its gain is realised, its own
    # the real account: flat until the unit is drawn, then the long arm's position a candle
    # later, flat again after the long arm closed; never the short arm's
    assert [s[2] for s in seen] == pytest.approx(
        [0.0, 0.0, 0.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0, 0.0]
    )
    assert all(s[2] >= 0.0 for s in seen)
    assert b.router.sent == 2 and b.router.refused == 0
    units = b.router.feed.experiment.assignments
    assert [(a.arm, a.version) for a in units.values()] == [("long", "long@1")]
    assert b.real.portfolio.equity > 100_000.0  # it earned what the long arm earned, roughly


def test_when_the_short_arm_holds_the_unit_the_real_account_is_short_and_stays_so() -> None:
    b = _books((1e-9, 1.0))
    seen = _replay(b)
    assert [s[2] for s in seen][3:] == pytest.approx([-0.1] * 9)  # the short arm never closes
    assert b.real.portfolio.equity < 100_000.0
    assert b.long.portfolio.quantity(SYMBOL) == 0.0 and b.long.portfolio.equity > 100_000.0


def test_the_feed_keeps_the_arms_moments_and_what_an_edge_would_need() -> None:
    b = _books((1.0, 1e-9))
    _replay(b)
    feed = b.router.feed
    assert feed.moments["short"].n == len(PRICES) - 2  # the last candle is not complete yet
    feed.finish()
    moments = feed.moments["short"]
    assert moments.n == len(PRICES) - 1  # one paired observation per candle after the first
    corr = moments.correlation()
    # long and short on one symbol move oppositely (the long arm is flat for its last hours)
    assert corr is not None and corr < -0.3
    needed = moments.samples_for(1.0, 8760.0)
    # the difference's spread is about twice an arm's: a large sample for one Sharpe unit
    assert needed is not None and needed > 8760.0


def test_a_stop_made_elsewhere_reaches_the_feed_within_its_progress_interval() -> None:
    b = _books((1.0, 1e-9))
    feed = b.router.feed
    shown: list[int] = []
    feed.on_progress, feed.progress_every = lambda: shown.append(feed.observed), 2
    store = feed.experiment.store
    stored = store.load("router")
    assert stored is not None
    Experiment(stored, store).stop(0, "the operator, from the CLI")  # another process
    _replay(b)
    assert not feed.experiment.running and shown == [2]  # taken up at the first look
    assert feed.observed == 2  # and nothing counted after it
