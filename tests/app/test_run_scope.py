"""A replay starts from its own state: not the trading state another run left in the database."""

from __future__ import annotations

from sqlalchemy import Engine

from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.app.run_scope import RunScopedRiskJournal
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.risk.state import TradingState, TradingStateChange
from tests.risk.helpers import T0, engine, portfolio


def test_replay_ignores_an_earlier_runs_trading_state_but_records_its_own(
    sqlite_engine: Engine,
) -> None:
    repo = SqlRiskRepository(sqlite_engine)
    earlier = TradingStateChange(
        T0, TradingState.ACTIVE, TradingState.REDUCING, "drawdown 11%", "rule:breaker", False
    )
    repo.record_state_change(earlier)

    # a live or paper restart continues where it stopped ...
    assert engine(portfolio(), SimulatedClock(T0), journal=repo).state is TradingState.REDUCING
    # ... a new replay starts ACTIVE
    scoped = RunScopedRiskJournal(repo)
    replay = engine(portfolio(), SimulatedClock(T0), journal=scoped)
    assert replay.state is TradingState.ACTIVE

    own = TradingStateChange(
        T0 + 1, TradingState.ACTIVE, TradingState.HALTED, "drawdown 21%", "rule:breaker", True
    )
    scoped.record_state_change(own)
    assert scoped.latest_state_change() == own
    assert repo.latest_state_change() == own  # the audit trail keeps every run's changes
