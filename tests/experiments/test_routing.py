"""Route mode's parts on simulated desks: the router's entries carry the allocated arm's
brackets, go through the real account's risk engine (a kill switch rejects them, a trim is not
topped up), and production's own intents are held back while the router owns a symbol."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from quantum_trader.decision.views import PortfolioRiskView
from quantum_trader.domain.orders import OrderType, Side
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.engine.trader import TradingContext
from quantum_trader.execution.order_manager import Bracket
from quantum_trader.experiments.allocation import AllocationConfig
from quantum_trader.experiments.experiment import Experiment
from quantum_trader.experiments.feed import ExperimentFeed
from quantum_trader.experiments.records import MemoryExperimentStore
from quantum_trader.experiments.router import (
    PositionRouter,
    RiskCheckedAccount,
    working_brackets,
)
from quantum_trader.experiments.routing import ProductionHold
from quantum_trader.experiments.spec import ArmSpec, ExperimentSpec
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.memory_journal import MemoryRiskJournal
from quantum_trader.risk.policy_source import FixedPolicySource
from quantum_trader.strategy.intents import TradeAction, TradeIntent
from tests.execution.helpers import HOUR, Desk, make_desk
from tests.risk.fakes import MemoryKillSwitchStore

SYMBOL = "BTCUSDT"
PRICE = 50_000.0
STOP, TAKE = 48_000.0, 54_000.0


@dataclass
class Routed:
    arm: Desk  # the allocated arm's account (the other arm never trades here)
    other: Desk
    real: Desk
    view: PortfolioRiskView
    router: PositionRouter
    kill: KillSwitch
    journal: MemoryRiskJournal

    def candle(self, i: int, low: float | None = None) -> None:
        """Hour ``i``: every desk takes the candle, then the feed and the router act."""
        t = i * HOUR
        lo = PRICE - 50.0 if low is None else low
        for desk in (self.arm, self.other, self.real):
            desk.bar(SYMBOL, t, PRICE, PRICE + 50.0, lo, PRICE)
        self.view.last_close[SYMBOL] = t + HOUR
        self.router.feed.on_bar(SYMBOL, t, t + HOUR, PRICE, PRICE, lo, PRICE, 1.0)
        self.router.on_bar(SYMBOL, t, t + HOUR, PRICE, PRICE, lo, PRICE, 1.0)

    def arm_enters(self) -> None:
        bracket = Bracket(stop_loss=STOP, take_profit=TAKE)
        self.arm.orders.submit(SYMBOL, Side.BUY, 0.1, OrderType.MARKET, bracket=bracket)


def _routed(risk: RiskConfig | None = None) -> Routed:
    spec = ExperimentSpec(
        "routing", (ArmSpec("a"), ArmSpec("b")),
        allocation=AllocationConfig(kind="fixed", weights=(1.0, 1e-9)),
    )  # fmt: skip
    experiment = Experiment.start(MemoryExperimentStore(), spec, 0)
    arm, other, real = make_desk(), make_desk(), make_desk()
    desks = {"a": arm, "b": other}
    feed = ExperimentFeed(experiment, {n: d.portfolio for n, d in desks.items()}, str)
    view = PortfolioRiskView(TradingContext(real.orders, real.portfolio))
    kill, journal = KillSwitch(MemoryKillSwitchStore(), real.clock), MemoryRiskJournal()
    engine = RiskEngine(
        config=risk or RiskConfig(),
        portfolio=view,
        policy=FixedPolicySource(TradingPolicy()),
        kill_switch=kill,
        journal=journal,
        clock=real.clock,
    )
    router = PositionRouter(
        feed,
        RiskCheckedAccount(real.portfolio, real.orders, engine),
        lambda name, symbol: working_brackets(desks[name].orders, symbol),
    )
    return Routed(arm, other, real, view, router, kill, journal)


def _working(desk: Desk) -> dict[OrderType, float | None]:
    return {
        o.order_type: o.stop_price if o.order_type is OrderType.STOP_MARKET else o.price
        for o in desk.orders.orders.values()
        if o.reduce_only and not o.status.is_terminal
    }


def test_the_real_entry_carries_the_arms_brackets_and_its_stop_closes_with_the_arms() -> None:
    r = _routed()
    r.candle(0)
    r.arm_enters()
    r.candle(1)  # the arm's entry fills, its unit is drawn, the router sends the real entry
    assert r.arm.portfolio.quantity(SYMBOL) == pytest.approx(0.1)
    assert r.real.portfolio.quantity(SYMBOL) == 0.0
    r.candle(2)  # the real entry fills: its brackets are the arm's
    assert r.real.portfolio.quantity(SYMBOL) == pytest.approx(0.1)
    assert _working(r.real) == _working(r.arm) == {
        OrderType.STOP_MARKET: STOP, OrderType.LIMIT: TAKE,
    }  # fmt: skip
    r.candle(3, low=STOP - 100.0)  # the price falls through the stop: both close at once
    assert r.arm.portfolio.quantity(SYMBOL) == r.real.portfolio.quantity(SYMBOL) == 0.0
    assert _working(r.real) == {} and r.router.sent == 1


def test_the_kill_switch_rejects_the_routers_entries_until_it_is_released() -> None:
    r = _routed()
    r.candle(0)
    r.arm_enters()
    r.kill.engage("the operator stops trading", by="cli:test")  # after the arm's order went out
    for i in (1, 2, 3):
        r.candle(i)
    assert r.arm.portfolio.quantity(SYMBOL) == pytest.approx(0.1)
    assert r.real.portfolio.quantity(SYMBOL) == 0.0  # asked on every candle, rejected each time
    assert r.router.refused == 3 and r.router.sent == 0
    rejected = [d for d in r.journal.decisions if d.intent.reason.startswith("experiment")]
    assert [d.outcome.value for d in rejected] == ["REJECTED"] * 3
    assert all(any("HALTED" in why for why in d.reasons) for d in rejected)
    assert not r.real.orders.orders  # nothing reached the venue
    r.kill.release(by="cli:test")
    r.candle(4)
    r.candle(5)
    assert r.real.portfolio.quantity(SYMBOL) == pytest.approx(0.1) and r.router.sent == 1


def test_an_entry_the_risk_engine_trimmed_is_not_topped_up_while_its_unit_lasts() -> None:
    r = _routed(RiskConfig(max_order_notional=3_000.0))  # 0.06 BTC at 50,000
    r.candle(0)
    r.arm_enters()
    for i in range(1, 6):
        r.candle(i)
    assert r.real.portfolio.quantity(SYMBOL) == pytest.approx(0.06)
    assert (r.router.sent, r.router.trimmed, r.router.refused) == (1, 1, 0)


def test_production_is_held_back_while_the_router_owns_the_symbol_and_released_after() -> None:
    r = _routed()
    hold = ProductionHold(r.router)
    entry = TradeIntent(SYMBOL, 0, TradeAction.ENTRY, Side.SELL, PRICE, "trend", "why", 0.6,
                        stop_loss=PRICE * 1.02, take_profit=PRICE * 0.96)  # fmt: skip
    exit_ = TradeIntent(SYMBOL, 0, TradeAction.EXIT, Side.SELL, PRICE, "trend", "why", 0.6)
    r.candle(0)
    r.arm_enters()
    r.candle(1)
    r.candle(2)
    assert hold(entry) and hold(exit_) and hold.held == {"entries": 1, "exits": 1}
    # the experiment stops: the router still owns the symbol while the unit's arm holds it
    r.router.feed.experiment.stop(2 * HOUR, "enough")
    r.candle(3)
    assert hold(entry) and r.real.portfolio.quantity(SYMBOL) == pytest.approx(0.1)
    r.arm.orders.submit(SYMBOL, Side.SELL, 0.1, OrderType.MARKET, reduce_only=True)
    r.candle(4)  # the arm closes: its slot frees, the router closes the real position
    assert hold(entry)
    r.candle(5)
    assert r.real.portfolio.quantity(SYMBOL) == 0.0
    assert not hold(entry) and hold.held == {"entries": 3, "exits": 1}  # production's again
    r.candle(6)
    assert r.router.sent == 2  # the router sends nothing more
