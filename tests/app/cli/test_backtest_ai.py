"""``backtest --strategy ai``: the full decision path over a past window, with models of its own
trained before the window (never the home's production models, which may be later)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.tables_execution import exec_orders
from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.app.cli.backtest import app
from quantum_trader.clock import SimulatedClock
from quantum_trader.domain.time import from_datetime
from quantum_trader.learning.registry import ModelRegistry

runner = CliRunner()
START, END = "2023-03-01", "2023-03-04"


@pytest.mark.data
@pytest.mark.slow
def test_an_ai_backtest_runs_the_decision_path_on_models_trained_before_it(
    data_dir: Path, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.setenv("QT_TRAIN_DAYS", "60")
    clean_env.setenv("AI_ENGINE_ENSEMBLE_MODELS", "xgb,lgbm")
    clean_env.setenv("COLUMNS", "200")
    # this test follows orders through the decision path: with calibrated members the cost
    # gate (tested on its own) refuses every entry of these three days, so it is off here
    clean_env.setenv("QT_ENTRY_COST_GATE", "false")
    args = ["--symbols", "BTCUSDT", "ETHUSDT", "--strategy", "ai", "--start", START, "--end", END]
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir), "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "report:" in result.output

    (home,) = (tmp_path / "home" / "backtests").iterdir()
    db = open_database(f"sqlite:///{home / 'quantum_trader.sqlite'}")
    start_ms = from_datetime(datetime.fromisoformat(START + "T00:00+00:00"))
    # its own models, trained on candles before --start
    versions = ModelRegistry(SqlRegistryRepository(db), SimulatedClock(0)).versions()
    assert {(v.key.model, v.key.scope) for v in versions} == {
        (m, s) for m in ("xgb", "lgbm") for s in ("BTCUSDT", "ETHUSDT")
    }
    for v in versions:
        window = v.metadata.training_window
        assert window is not None and window[1] < start_ms, (str(v.key), window)
    # every decision of the window went through the decision path, and orders carry theirs
    (summary_path,) = (tmp_path / "home" / "runs").glob("*/summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["decisions"] == 2 * 3 * 24
    assert summary["live"]["state"] == "off" and "backtest" in summary["live"]["reason"]
    with db.connect() as conn:
        refs = [json.loads(d) for (d,) in conn.execute(select(exec_orders.c.decision_json))]
    # every order (the pipeline's and the brackets it placed) names the decision behind it
    assert len(refs) >= summary["orders_sent"] > 0, (len(refs), summary["orders_sent"])
    assert all(r is not None and r["selector"] == "regime_rules" for r in refs), refs
    # the home's own registry was never touched: a backtest cannot promote anything
    main = open_database(f"sqlite:///{tmp_path / 'home' / 'quantum_trader.sqlite'}")
    assert ModelRegistry(SqlRegistryRepository(main), SimulatedClock(0)).versions() == []
    # its trial is in the home's ledger (which counts every trial made from it), not its own
    (trial,) = SqlTrialLedger(main).trials("backtest")
    # … and so are the validations its continuous learning made, if any
    assert all(t.parent == summary["run_id"] for t in SqlTrialLedger(main).trials("validation"))
    assert (trial.kind, trial.name, trial.seed) == ("backtest", "system", 7)
    end_ms = from_datetime(datetime.fromisoformat(END + "T00:00+00:00"))
    assert (trial.data_start, trial.data_end) == (start_ms, end_ms)
    assert trial.periods == 3 * 24 - 1 and trial.parent == summary["run_id"]
    assert SqlTrialLedger(db).trials() == []


def test_an_ai_backtest_needs_its_window() -> None:
    result = runner.invoke(app, ["--symbols", "BTCUSDT", "--strategy", "ai", "--start", START])
    assert result.exit_code != 0
    assert "--strategy ai needs --start and --end" in str(result.exception) + result.output
