"""Every validation of the gate is a ``validation`` row of the trial ledger (issue 17 item 2):
named by line and version, the run as parent, the gate's figures as metrics; listed by
``trials list`` with its kind, and left out of the deflated Sharpe ratio's inputs."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.app.cli.main import app
from quantum_trader.app.validation_trials import validation_trial
from quantum_trader.evaluation.ledger import dsr_inputs
from quantum_trader.learning.gate import Validation
from quantum_trader.learning.registry import Stage
from tests.learning.test_gate_trading import ROWS, START, TF, UNSEEN, FakeScorer, Rig, pair

RUN = "0fbc192f5647"


@pytest.fixture
def db(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Engine:
    """The home's database: the registry and the trial ledger, as in a run."""
    clean_env.setenv("QT_HOME", str(tmp_path))
    clean_env.setenv("COLUMNS", "250")
    return open_database(f"sqlite:///{tmp_path / 'quantum_trader.sqlite'}")


def _recording(db: Engine, scorer: FakeScorer | None) -> tuple[Rig, SqlTrialLedger]:
    ledger = SqlTrialLedger(db)

    def record(validation: Validation) -> None:
        ledger.record(validation_trial(validation, seed=7, parent=RUN))

    return Rig(db, scorer, fitted_until=UNSEEN, record=record), ledger


def test_a_validation_with_its_trading_check_writes_a_ledger_row(db: Engine) -> None:
    rig, ledger = _recording(db, FakeScorer(pair(6, edge=0.0)))
    assert rig.judge(rig.skilled) is Stage.SHADOW
    (trial,) = ledger.trials()
    assert trial.kind == "validation" and trial.parent == RUN and trial.seed == 7
    assert trial.name == f"xgb/BTCUSDT/h4@v{rig.skilled.version}"
    assert (trial.data_start, trial.data_end) == (START, START + ROWS * TF)
    assert trial.symbols == ("BTCUSDT",) and trial.timeframe == "1h"
    m = trial.metrics
    assert m["passed"] == 1.0 and m["trading_passed"] == 1.0 and m["rows"] == ROWS
    assert m["candidate_log_loss"] is not None and m["champion_log_loss"] is not None
    assert m["candidate_log_loss"] < m["champion_log_loss"]
    assert m["dm_statistic"] is not None and m["dm_p_value"] is not None
    for arm in ("champion", "candidate"):
        for name in ("auc", "brier", "ece", "sharpe", "profit_factor", "max_drawdown",
                     "turnover", "fees", "funding"):  # fmt: skip
            assert m[f"{arm}_{name}"] is not None, f"{arm}_{name}"
    # its Sharpe ratio: the candidate's replay, per candle
    candidate_sharpe = m["candidate_sharpe"]
    assert candidate_sharpe is not None and trial.sharpe is not None
    assert trial.sharpe == pytest.approx(candidate_sharpe / math.sqrt(365 * 24))
    assert trial.periods == ROWS - 1


def test_a_validation_refused_on_log_loss_writes_a_row_without_trading_figures(
    db: Engine,
) -> None:
    rig, ledger = _recording(db, FakeScorer(pair(6, edge=0.0)))
    assert rig.judge(rig.clueless) is Stage.RETIRED
    (trial,) = ledger.trials()
    assert trial.metrics["passed"] == 0.0 and trial.sharpe is None and trial.periods == 0
    assert trial.metrics["candidate_sharpe"] is None and trial.metrics["trading_passed"] is None


def test_validations_are_listed_with_their_kind_and_left_out_of_the_dsr(
    db: Engine,
) -> None:
    rig, ledger = _recording(db, FakeScorer(pair(6, edge=0.0)))
    rig.judge(rig.skilled)
    (validation,) = ledger.trials()
    assert dsr_inputs(ledger.trials()) == (0, 0.0)
    backtest = replace(validation, kind="backtest", name="system", sharpe=0.01, periods=500)
    ledger.record(backtest)
    assert dsr_inputs(ledger.trials()) == (1, 0.0)
    listed = CliRunner().invoke(app, ["trials", "list", "--kind", "validation"], terminal_width=250)
    assert listed.exit_code == 0, listed.output
    assert "validation" in listed.output and validation.name in listed.output
    assert "system" not in listed.output.split("DSR inputs")[0]
    assert "N = 1 distinct" in listed.output
