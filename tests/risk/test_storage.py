"""The SQL journal of the risk area, on SQLite and PostgreSQL; the kill switch across restarts."""

from __future__ import annotations

import getpass
from pathlib import Path

from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.policy import RiskMode
from quantum_trader.risk.decision import Outcome
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.state import TradingState, TradingStateChange
from quantum_trader.strategy.risk_modes import ModeChange
from tests.risk.helpers import T0, buy, engine, portfolio


def test_decisions_state_changes_and_modes_round_trip(db_engine: Engine) -> None:
    repo = SqlRiskRepository(db_engine)
    clock = SimulatedClock(T0)
    pf = portfolio()
    eng = engine(pf, clock, journal=repo, store=repo)
    d1 = eng.evaluate(buy(qty=0.01))
    pf.equity_now = 8_500.0  # 15% drawdown → REDUCING
    d2 = eng.evaluate(buy(qty=0.01))
    assert (d1.outcome, d2.outcome) == (Outcome.APPROVED, Outcome.REJECTED)
    rows = repo.recent_decisions()
    assert [r["outcome"] for r in rows] == ["REJECTED", "APPROVED"]
    assert rows[0]["trading_state"] == "REDUCING" and rows[0]["reasons"]
    change = repo.latest_state_change()
    assert change is not None and change.state is TradingState.REDUCING
    mc = ModeChange(T0, None, RiskMode.CONSERVATIVE, ("drawdown 15%",), {"drawdown": 0.15}, 3)
    repo.record_mode_change(mc)
    assert repo.latest_mode_change() == mc
    assert repo.mode_changes() == [mc]


def test_kill_switch_survives_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'qt.sqlite'}"
    db = open_database(url)
    repo = SqlRiskRepository(db)
    clock = SimulatedClock(T0)
    KillSwitch(repo, clock).engage("manual stop before maintenance", by="ops")
    db.dispose()

    # a new process: fresh engine objects over the same database file
    db2 = open_database(url)
    repo2 = SqlRiskRepository(db2)
    eng = engine(portfolio(), SimulatedClock(T0), journal=repo2, store=repo2)
    d = eng.evaluate(buy(qty=0.01))
    assert d.outcome is Outcome.REJECTED and d.trading_state is TradingState.HALTED
    assert any("manual stop before maintenance" in r for r in d.reasons)
    KillSwitch(repo2, clock).release(by="ops")
    assert eng.evaluate(buy(qty=0.01)).outcome is Outcome.APPROVED
    db2.dispose()


def test_cli_kill_switch_is_seen_by_an_engine(tmp_path: Path) -> None:
    from quantum_trader.app.cli.risk import app

    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    env = {"QT_DATABASE_URL": url}
    runner = CliRunner()
    on = runner.invoke(app, ["kill-switch", "on", "--reason", "fat finger"], env=env)
    assert on.exit_code == 0, on.output
    assert "ENGAGED" in on.output and "fat finger" in on.output
    status = runner.invoke(app, ["kill-switch", "status"], env=env)
    assert "ENGAGED" in status.output

    db = open_database(url)  # "restart": the engine starts after the CLI wrote the switch
    repo = SqlRiskRepository(db)
    eng = engine(portfolio(), SimulatedClock(T0), journal=repo, store=repo)
    assert eng.evaluate(buy(qty=0.01)).outcome is Outcome.REJECTED

    off = runner.invoke(app, ["kill-switch", "off"], env=env)
    assert off.exit_code == 0 and "off" in off.output
    assert eng.evaluate(buy(qty=0.01)).outcome is Outcome.APPROVED
    listed = runner.invoke(app, ["decisions", "--limit", "5"], env=env)
    assert listed.exit_code == 0 and "REJECTED" in listed.output and "APPROVED" in listed.output
    newest = runner.invoke(app, ["decisions", "--limit", "1"], env=env)
    assert "APPROVED" in newest.output and "REJECTED" not in newest.output
    for bad in ("0", "-1"):  # SQLite reads LIMIT -1 as no limit: refused, not every row
        refused = runner.invoke(app, ["decisions", "--limit", bad], env=env)
        assert refused.exit_code == 2 and "REJECTED" not in refused.output, bad
    missing = runner.invoke(app, ["kill-switch", "on"], env=env)
    assert missing.exit_code != 0
    db.dispose()


def test_cli_reset_halt_releases_a_latched_drawdown_halt(tmp_path: Path) -> None:
    from quantum_trader.app.cli.risk import app

    url = f"sqlite:///{tmp_path / 'halt.sqlite'}"
    env = {"QT_DATABASE_URL": url}
    db = open_database(url)
    repo = SqlRiskRepository(db)
    pf = portfolio()
    eng = engine(pf, SimulatedClock(T0), journal=repo, store=repo)
    pf.equity_now = 7_500.0  # 25% drawdown → HALTED, latched
    assert eng.evaluate(buy(qty=0.001)).trading_state is TradingState.HALTED
    pf.equity_now = pf.peak = 10_000.0
    assert eng.refresh_state() is TradingState.HALTED

    halted = repo.latest_state_recorded()
    assert halted is not None and halted[0].by == "engine:run"  # the engine's run, by name
    assert halted[1] is not None and halted[1] != halted[0].at  # stored at a wall-clock time

    mode = ModeChange(T0, None, RiskMode.CONSERVATIVE, ("drawdown 25%",), {}, 1)
    SqlRiskRepository(db, actor="engine:run").record_mode_change(mode)

    runner = CliRunner()
    shown = runner.invoke(app, ["status"], env=env)
    assert (
        "HALTED" in shown.output and "latched" in shown.output and "by engine:run" in shown.output
    )
    mode_text = " ".join(shown.output.split("risk mode:")[1].split())  # unwrapped
    assert mode_text.startswith("CONSERVATIVE") and "by engine:run: drawdown 25%" in mode_text
    reset = runner.invoke(app, ["reset-halt", "--reason", "reviewed"], env=env)
    assert reset.exit_code == 0 and "cleared" in reset.output
    # the CLI went through RiskEngine.reset_halt: the state is left to the trading engine
    entry = repo.latest_state_change()
    assert entry is not None and (entry.by, entry.state, entry.halt_latched) == (
        f"cli:{getpass.getuser()}",  # the person, not just "cli" (issue 22 A6)
        TradingState.HALTED,
        False,
    )
    assert entry.reason == "halt reset: reviewed"
    d = eng.evaluate(buy(qty=0.001))
    assert d.outcome is Outcome.APPROVED and d.trading_state is TradingState.ACTIVE
    again = runner.invoke(app, ["reset-halt", "--reason", "twice"], env=env)
    assert again.exit_code == 0 and "no latched halt" in again.output
    db.dispose()


def test_kill_switch_reads_the_latest_change_on_both_databases(db_engine: Engine) -> None:
    repo = SqlRiskRepository(db_engine)
    assert repo.latest_kill_switch() is None
    switch = KillSwitch(repo, SimulatedClock(T0))
    switch.engage("exchange incident", by="ops")
    state = repo.latest_kill_switch()
    assert state is not None and state.engaged and state.reason == "exchange incident"
    assert state.changed_by == "ops" and state.changed_at == T0
    switch.release(by="ops", reason="resolved")
    # a second repository (another process's view) sees the release at once
    again = SqlRiskRepository(db_engine).latest_kill_switch()
    assert again is not None and not again.engaged and again.reason == "resolved"


def test_status_does_not_show_an_earlier_runs_trading_state_as_the_last_runs(
    tmp_path: Path,
) -> None:
    """Each run starts ACTIVE (app/run_scope.py): a HALT an earlier replay recorded is not the
    state of a later run that recorded none."""
    from quantum_trader.adapters.sql.tables import runs
    from quantum_trader.app.cli.risk import app

    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    db = open_database(url)
    halt = TradingStateChange(
        T0,
        TradingState.ACTIVE,
        TradingState.HALTED,
        "kill switch engaged: probe",
        "engine:r1",
        False,
    )
    SqlRiskRepository(db).record_state_change(halt)

    def status() -> str:
        shown = CliRunner().invoke(app, ["status"], env={"QT_DATABASE_URL": url})
        assert shown.exit_code == 0, shown.output
        return " ".join(shown.output.split("trading state:")[1].split())  # unwrapped

    with db.begin() as conn:
        conn.execute(insert(runs).values(run_id="r1", mode="replay", started_at=1, status="DONE"))
    assert status().startswith("HALTED since")  # the last run's own state
    with db.begin() as conn:
        conn.execute(insert(runs).values(run_id="r2", mode="replay", started_at=2, status="DONE"))
    assert status().startswith(
        "ACTIVE: the last run, r2 (DONE), recorded no change; before it, run r1's: HALTED since"
    )
    db.dispose()
