"""A replay starts from its own state: not the trading state another run left in the database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from typer.testing import CliRunner

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.app.run_scope import DECISION_BATCH, RunScopedRiskJournal
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain import OrderIntent, Side
from quantum_trader.domain.policy import RiskMode
from quantum_trader.risk.decision import Outcome, RiskDecision
from quantum_trader.risk.state import TradingState, TradingStateChange
from tests.risk.helpers import T0, buy, engine, portfolio


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


def _decision(k: int) -> RiskDecision:
    intent = OrderIntent("BTCUSDT", Side.BUY, 0.5, stop_loss=90.0, take_profit=120.0)
    return RiskDecision(
        decision_id=f"run:risk:{k}",
        outcome=Outcome.APPROVED,
        intent=intent,
        final_quantity=0.5,
        reasons=("ok",),
        time=T0 + k,
        trading_state=TradingState.ACTIVE,
        risk_mode=RiskMode.MODERATE,
    )


def test_replay_decisions_are_written_in_batches_then_one_by_one_once_live(
    sqlite_engine: Engine,
) -> None:
    repo = SqlRiskRepository(sqlite_engine)
    live = [False]
    scoped = RunScopedRiskJournal(repo, replaying=lambda: not live[0])

    def written() -> list[str]:
        return [r["decision_id"] for r in reversed(repo.recent_decisions(limit=1000))]

    for k in range(DECISION_BATCH + 3):
        scoped.record_decision(_decision(k))
    assert len(written()) == DECISION_BATCH  # one full batch; three pending
    live[0] = True
    scoped.record_decision(_decision(DECISION_BATCH + 3))  # live: the backlog, then itself
    assert written() == [f"run:risk:{k}" for k in range(DECISION_BATCH + 4)]

    live[0] = False
    scoped.record_decision(_decision(1000))
    change = TradingStateChange(
        T0 + 2000, TradingState.ACTIVE, TradingState.REDUCING, "drawdown", "rule:breaker", False
    )
    scoped.record_state_change(change)  # the decisions before a state change come first
    assert written()[-1] == "run:risk:1000"
    scoped.record_decision(_decision(1001))
    scoped.flush()  # the end of the run
    assert written()[-1] == "run:risk:1001"
    scoped.flush()  # nothing pending: nothing written twice
    assert len(written()) == DECISION_BATCH + 6


def test_a_cli_reset_halt_reaches_a_live_engine_behind_the_run_scope(tmp_path: Path) -> None:
    from quantum_trader.app.cli.risk import app

    url = f"sqlite:///{tmp_path / 'run.sqlite'}"
    db = open_database(url)
    repo = SqlRiskRepository(db)
    live = [False]
    scoped = RunScopedRiskJournal(repo, replaying=lambda: not live[0])
    pf = portfolio()
    eng = engine(pf, SimulatedClock(T0), journal=scoped, store=repo)
    pf.equity_now = 7_500.0  # 25% drawdown in the replay → HALTED, latched
    assert eng.evaluate(buy(qty=0.001)).trading_state is TradingState.HALTED
    live[0] = True
    pf.equity_now = pf.peak = 10_000.0
    assert eng.refresh_state() is TradingState.HALTED

    # the CLI is another connection to the same SQLite file, as from another terminal
    reset = CliRunner().invoke(
        app, ["reset-halt", "--reason", "reviewed"], env={"QT_DATABASE_URL": url}
    )
    assert reset.exit_code == 0 and "cleared" in reset.output
    assert eng.refresh_state() is TradingState.ACTIVE
    db.dispose()
