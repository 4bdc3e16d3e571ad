from __future__ import annotations

import pytest

from quantum_trader.bus import publish_event, subscribe_records, topics
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.orders import Side
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.risk import TradingStateChange
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.decision import Outcome
from quantum_trader.risk.engine import RiskEngine, approved_intent
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.policy_source import FixedPolicySource
from quantum_trader.risk.portfolio_view import OpenPosition
from quantum_trader.risk.state import TradingState
from quantum_trader.status.registry import StatusRegistry
from tests.risk.fakes import MemoryJournal, MemoryKillSwitchStore
from tests.risk.helpers import T0, buy, engine, portfolio, sell


def test_small_order_is_approved_and_journaled() -> None:
    clock = SimulatedClock(T0)
    journal = MemoryJournal()
    eng = engine(portfolio(), clock, journal=journal)
    d = eng.evaluate(buy(qty=0.01))
    assert d.outcome is Outcome.APPROVED and d.final_quantity == 0.01 and d.reasons == ()
    assert journal.decisions == [d]
    assert d.trading_state is TradingState.ACTIVE


def test_risk_per_trade_trims_to_budget() -> None:
    clock = SimulatedClock(T0)
    eng = engine(portfolio(), clock)
    # policy: 1% of 10k = 100 at risk; stop 2% of 50k = 1000 per BTC → 0.1 BTC (+1% tolerance)
    d = eng.evaluate(buy(qty=0.5))
    assert d.outcome is Outcome.TRIMMED
    assert d.final_quantity == pytest.approx(0.101)
    assert any(r.startswith("risk_per_trade") for r in d.reasons)
    sent = approved_intent(d)
    assert sent is not None and sent.quantity == d.final_quantity


def test_symbol_exposure_trims_and_max_positions_rejects() -> None:
    clock = SimulatedClock(T0)
    pf = portfolio()
    policy = FixedPolicySource(TradingPolicy(max_open_positions=1, risk_per_trade=0.2))
    eng = engine(pf, clock, policy=policy)
    d = eng.evaluate(buy(qty=1.0, stop_loss=49_900.0))
    assert d.outcome is Outcome.TRIMMED  # 1.5 × 10k equity / 50k = 0.3 BTC
    assert d.final_quantity == pytest.approx(0.3)
    pf.positions["BTCUSDT"] = OpenPosition(0.3, 50_000.0)
    d2 = eng.evaluate(buy("ETHUSDT", qty=0.1))
    assert d2.outcome is Outcome.REJECTED
    assert any("max_open_positions" in r for r in d2.reasons)


def test_stale_data_blocks_entries_but_not_exits() -> None:
    clock = SimulatedClock(T0)
    pf = portfolio()
    pf.positions["BTCUSDT"] = OpenPosition(0.05, 50_000.0)
    eng = engine(pf, clock)
    clock.advance_to(T0 + 3 * MS_PER_HOUR)
    assert eng.evaluate(buy(qty=0.01)).outcome is Outcome.REJECTED
    assert eng.evaluate(sell(qty=0.05)).outcome is Outcome.APPROVED


def test_drawdown_moves_state_reducing_then_halted_and_latches() -> None:
    clock = SimulatedClock(T0)
    pf = portfolio()
    pf.positions["BTCUSDT"] = OpenPosition(0.05, 50_000.0)
    journal = MemoryJournal()
    bus = InProcessBus(clock)
    seen: list[TradingStateChange] = []
    subscribe_records(bus, topics.RISK_STATE_CHANGED, seen.append)
    eng = RiskEngine(
        config=RiskConfig(),
        portfolio=pf,
        policy=FixedPolicySource(TradingPolicy()),
        kill_switch=KillSwitch(MemoryKillSwitchStore(), clock),
        journal=journal,
        clock=clock,
        bus=bus,
    )
    pf.set_equity(8_800.0)
    d = eng.evaluate(buy(qty=0.01))
    assert d.outcome is Outcome.REJECTED and d.trading_state is TradingState.REDUCING
    # an order that would flip the long is trimmed to a close
    flip = eng.evaluate(sell(qty=0.08))
    assert flip.outcome is Outcome.TRIMMED and flip.final_quantity == pytest.approx(0.05)
    pf.set_equity(7_900.0)
    assert eng.evaluate(sell(qty=0.05)).outcome is Outcome.REJECTED
    assert eng.state is TradingState.HALTED
    pf.set_equity(10_000.0)
    assert eng.refresh_state() is TradingState.HALTED  # latched
    eng.reset_halt(by="test", reason="reviewed")
    assert eng.state is TradingState.ACTIVE
    states = [c.state for c in journal.changes]
    assert states[:2] == [TradingState.REDUCING, TradingState.HALTED]
    assert seen == journal.changes  # the bus carries what the journal records


def test_daily_loss_limit_reduces() -> None:
    clock = SimulatedClock(T0)
    pf = portfolio()
    pf.daily = -600.0  # 600 / (10_000 + 600) = 5.7% > 5%
    eng = engine(pf, clock)
    d = eng.evaluate(buy(qty=0.01))
    assert d.outcome is Outcome.REJECTED
    assert eng.state is TradingState.REDUCING
    assert any("daily_loss" in r for r in d.reasons)


def test_cooldown_after_consecutive_losses_from_trade_events() -> None:
    clock = SimulatedClock(T0)
    bus = InProcessBus(clock)
    pf = portfolio()
    eng = engine(pf, clock)
    eng.attach(bus)
    for k in range(3):
        loss = Trade(
            f"t{k}", "BTCUSDT", Side.BUY, 0.01, 100.0, 99.0, T0, T0 + k, pnl=-10.0, fees=1.0
        )
        publish_event(bus, topics.TRADE_CLOSED, loss, source="test")
    d = eng.evaluate(buy(qty=0.01))
    assert d.outcome is Outcome.REJECTED and any("cooldown" in r for r in d.reasons)
    assert eng.evaluate(buy("ETHUSDT", qty=0.1)).outcome is Outcome.APPROVED
    assert eng.context(buy()).cooldown_until == T0 + 2 + RiskConfig().cooldown_ms
    clock.advance_to(T0 + 2 + RiskConfig().cooldown_ms)
    pf.candle_close["BTCUSDT"] = clock.now()
    assert eng.evaluate(buy(qty=0.01)).outcome is Outcome.APPROVED


def test_kill_switch_halts_and_release_resumes() -> None:
    clock = SimulatedClock(T0)
    store = MemoryKillSwitchStore()
    registry = StatusRegistry(clock)
    eng = RiskEngine(
        config=RiskConfig(),
        portfolio=portfolio(),
        policy=FixedPolicySource(TradingPolicy()),
        kill_switch=KillSwitch(store, clock),
        journal=MemoryJournal(),
        clock=clock,
        status=registry,
    )
    ks = KillSwitch(store, clock)
    with pytest.raises(ValueError):
        ks.engage("  ", by="test")
    ks.engage("exchange incident", by="ops")
    d = eng.evaluate(buy(qty=0.01))
    assert d.outcome is Outcome.REJECTED and d.trading_state is TradingState.HALTED
    assert any("kill switch engaged: exchange incident" in r for r in d.reasons)
    ks.release(by="ops")
    assert eng.evaluate(buy(qty=0.01)).outcome is Outcome.APPROVED
    counters = registry.get("risk_safety").status.counters
    assert counters == {
        "decisions_rejected": 1,
        "decisions_approved": 1,
        "state_changes": 2,
        # the drawdown breaker's figures (levels): its peaks in whole USDT and its releases
        "breaker_releases": 0,
        "breaker_peak_equity": 10_000,
        "all_time_peak_equity": 10_000,
    }


def test_missing_mark_price_rejects_with_reason() -> None:
    clock = SimulatedClock(T0)
    d = engine(portfolio(), clock).evaluate(buy("SOLUSDT", qty=1.0))
    assert d.outcome is Outcome.REJECTED
    assert any("no valid mark price for SOLUSDT" in r for r in d.reasons)
