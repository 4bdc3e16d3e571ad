"""``quantum-trader status`` shows the drawdown breaker's releases and peak (``risk_safety``)
and the strategies benched for their expectancy (``strategies``), as the engine flushed them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.app.cli.main import app
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.policy_source import FixedPolicySource
from quantum_trader.risk.portfolio_view import OpenPosition
from quantum_trader.risk.state import TradingState
from quantum_trader.status.registry import StatusRegistry
from quantum_trader.strategy.expectancy import ExpectancyConfig, ExpectancyTracker
from tests.risk.helpers import T0, portfolio


def test_status_shows_breaker_releases_peak_and_benched_strategies(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'qt.sqlite'}"
    clean_env.setenv("QT_DATABASE_URL", url)
    db = open_database(url)
    clock = SimulatedClock(T0)
    registry = StatusRegistry(clock, SqlStatusRepository(db), run_id="r1")
    repo = SqlRiskRepository(db)
    pf = portfolio()
    pf.positions["BTCUSDT"] = OpenPosition(0.05, 50_000.0)
    pf.set_equity(8_800.0)  # 12 % down: REDUCING
    risk = RiskEngine(
        config=RiskConfig(reducing_cooldown_ms=72 * MS_PER_HOUR),
        portfolio=pf,
        policy=FixedPolicySource(TradingPolicy()),
        kill_switch=KillSwitch(repo, clock),
        journal=repo,
        clock=clock,
        status=registry,
    )
    assert risk.refresh_state() is TradingState.REDUCING
    pf.positions.clear()
    risk.refresh_state()
    clock.advance_to(T0 + 72 * MS_PER_HOUR)
    assert risk.refresh_state() is TradingState.ACTIVE  # released after 72 h flat

    handle = registry.register("strategies", enabled=True, reason="chosen by regime")
    tracker = ExpectancyTracker(ExpectancyConfig(min_trades=5), journal=repo, handle=handle)
    for k in range(5):
        tracker.record("TrendFollowing", "BEAR", -0.01 - 0.001 * k, at=T0 + k)
    registry.flush()
    db.dispose()

    runner = CliRunner()
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    modules = {m["name"]: m for m in json.loads(shown.output)}
    risk_counters = modules["risk_safety"]["counters"]
    assert risk_counters["breaker_releases"] == 1
    assert risk_counters["breaker_peak_equity"] == 8_800
    assert risk_counters["all_time_peak_equity"] == 10_000
    strategies = modules["strategies"]
    assert strategies["counters"]["strategies_benched"] == 1
    assert strategies["counters"]["expectancy_benches"] == 1
    assert strategies["reason"].startswith("chosen by regime; benched: TrendFollowing in BEAR")
    assert "(n=5, mean -1.200%, t=-16.97)" in strategies["reason"]
    table = runner.invoke(app, ["status"], env={"COLUMNS": "400"})
    assert table.exit_code == 0
    assert "benched: TrendFollowing in BEAR" in table.output
    assert "breaker_releases=1" in table.output and "breaker_peak_equity=8,800" in table.output
    # the bench is in the journal too, with its statistics
    bench = SqlRiskRepository(open_database(url)).bench_changes()
    assert len(bench) == 1 and bench[0].benched and bench[0].trades == 5
