"""A replay with a forced drawdown: the controller turns CONSERVATIVE and the risk engine
REDUCING, then HALTED, before the next order intent is evaluated."""

from __future__ import annotations

from sqlalchemy import Engine

from quantum_trader.adapters.sql.repositories import SqlPolicyRepository
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.bus import subscribe_records, topics
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.bus.policy_store import PolicyStore
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.risk import RiskDecision
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.decision import Outcome
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.policy_source import StorePolicySource
from quantum_trader.risk.portfolio_view import OpenPosition
from quantum_trader.risk.state import TradingState
from quantum_trader.strategy.meta_controller import MetaControllerConfig, MetaStrategyController
from tests.risk.fakes import FakePortfolio
from tests.risk.helpers import T0, buy, sell


def test_forced_drawdown_flips_controller_and_engine_before_next_order(
    sqlite_engine: Engine,
) -> None:
    clock = SimulatedClock(T0)
    bus = InProcessBus(clock, run_id="replay")
    store = PolicyStore(SqlPolicyRepository(sqlite_engine), bus, clock)
    repo = SqlRiskRepository(sqlite_engine)
    pf = FakePortfolio()
    pf.positions["BTCUSDT"] = OpenPosition(0.04, 50_000.0)
    controller = MetaStrategyController(
        config=MetaControllerConfig(evaluate_interval_ms=MS_PER_HOUR),
        portfolio=pf,
        store=store,
        journal=repo,
        clock=clock,
    )
    controller.attach(bus)
    scheduler = Scheduler()
    controller.start(scheduler, start_at=T0)
    risk = RiskEngine(
        config=RiskConfig(),
        portfolio=pf,
        policy=StorePolicySource(store),
        kill_switch=KillSwitch(repo, clock),
        journal=repo,
        clock=clock,
        bus=bus,
        run_id="replay",
    )
    decisions: list[RiskDecision] = []
    subscribe_records(bus, topics.RISK_DECISION, decisions.append)

    price = 50_000.0
    seen_reducing = seen_halted = False
    for k in range(1, 40):
        # one replayed hourly candle: the price falls 1% per candle after the 5th
        now = T0 + k * MS_PER_HOUR
        clock.advance_to(now)
        if k > 5:
            price *= 0.99
            pf.set_equity(pf.equity_now * 0.985)
        pf.marks["BTCUSDT"] = price
        pf.candle_close["BTCUSDT"] = now
        scheduler.run_due(now)  # the engine's scheduled jobs run before the strategies

        drawdown = 1 - pf.equity_now / pf.peak
        entry = risk.evaluate(buy(qty=0.001))
        if drawdown >= 0.08:
            assert controller.mode is RiskMode.CONSERVATIVE, (k, drawdown)
            assert entry.risk_mode is RiskMode.CONSERVATIVE  # the policy reached the engine
        if drawdown < RiskConfig().drawdown_reducing:
            assert entry.trading_state is TradingState.ACTIVE
            continue
        # past the threshold, the very next intent already meets the new state
        assert entry.outcome is Outcome.REJECTED, (k, drawdown, entry.reasons)
        exit_ = risk.evaluate(sell(qty=0.01))
        if drawdown < RiskConfig().drawdown_halted:
            assert entry.trading_state is TradingState.REDUCING
            assert exit_.outcome is Outcome.APPROVED  # only reducing orders pass
            seen_reducing = True
        else:
            assert entry.trading_state is TradingState.HALTED
            assert exit_.outcome is Outcome.REJECTED
            seen_halted = True
    assert seen_reducing and seen_halted
    states = [d.trading_state for d in decisions]
    assert states.index(TradingState.REDUCING) < states.index(TradingState.HALTED)
    modes = [c.mode for c in repo.mode_changes()]
    assert modes[0] is RiskMode.MODERATE and RiskMode.CONSERVATIVE in modes
    assert repo.latest_state_change() is not None
    assert len(repo.recent_decisions(1000)) == len(decisions)
