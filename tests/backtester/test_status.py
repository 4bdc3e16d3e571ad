"""The runner registers execution, portfolio and backtester with real evidence counters."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.backtester.strategies import SmaCross, SmaCrossConfig
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.engine.session import SessionConfig, TradingSession
from quantum_trader.status.registry import ModuleState, StatusRegistry


@pytest.mark.data
def test_modules_register_and_count_what_they_did(data_dir: Path) -> None:
    registry = StatusRegistry(SimulatedClock(0))
    frame = CandleStore(data_dir).load("BTCUSDT", "1h").iloc[-500:]
    runner = TradingSession(
        SessionConfig("1h", initial_balance=100_000.0),
        {"BTCUSDT": frame},
        SmaCross(SmaCrossConfig(5, 20, 0.1)),
        funding_rates={"BTCUSDT": CandleStore(data_dir).funding_rates("BTCUSDT")},
        status=registry,
    )
    result = runner.run()
    snap = {s.name: s for s in registry.snapshot()}
    assert set(snap) == {"execution", "portfolio", "backtester"}
    assert all(s.state is ModuleState.ACTIVE for s in snap.values())
    ex, pf, bt = snap["execution"].counters, snap["portfolio"].counters, snap["backtester"].counters
    assert ex["orders_submitted"] == len(runner.orders.orders)
    assert ex["fills"] == len(result.fills) and ex["trades_closed"] == len(result.trades) > 5
    assert pf["ledger_entries"] == len(runner.portfolio.ledger)
    funding_entries = [e for e in runner.portfolio.ledger.entries if e.kind.value == "FUNDING"]
    assert pf["funding_payments"] == len(funding_entries) > 30 and pf["liquidations"] == 0
    assert bt["candles_replayed"] == 500 and bt["runs"] == 1
