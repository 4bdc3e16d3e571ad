"""Module 18 in the main job, on real candles: an experiment between the rule selector (the
Q-learner's twin, since the agents are off here) and the Q-learning challenger, fed from their
shadow accounts, stored as it runs, and leaving production untouched."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.app.cli.main import app
from quantum_trader.app.main_job import run_main_job
from quantum_trader.config import load_settings
from quantum_trader.experiments.records import ExperimentStatus
from quantum_trader.status import ModuleState

runner = CliRunner()


@pytest.fixture
def replay(clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path) -> pytest.MonkeyPatch:
    """A 15-day offline replay of the shared data with the tree members, the Q-learner on (the
    agents are off by default in tests): the two arms are the rule twin and the Q-learner."""
    for name, value in {
        "QT_HOME": str(tmp_path / "home"),
        "QT_DATA_DIR": str(data_dir),
        "QT_REPLAY_DAYS": "15",
        "QT_TRAIN_DAYS": "90",
        "QT_OFFLINE": "true",
        "AI_ENGINE_ENSEMBLE_MODELS": "xgb,lgbm",
        "CONTINUOUS_LEARNING_ENABLED": "false",
        "QT_QLEARNING": "true",
    }.items():
        clean_env.setenv(name, value)
    return clean_env


@pytest.mark.slow
def test_the_run_experiment_pairs_the_challengers_accounts_candle_by_candle(
    replay: pytest.MonkeyPatch,
) -> None:
    run = run_main_job(load_settings())

    status = {s.name: s for s in run.runtime.status.snapshot()}["ab_testing"]
    assert status.state is ModuleState.ACTIVE, status.reason
    ab = run.summary["ab_testing"]
    name = ab["experiment"]
    assert name == f"rules_vs_qlearning@{run.runtime.run_id}"
    pair = run.summary["qlearning_shadow"]["pair"]
    # one paired observation per candle time the accounts marked, less the first (no return)
    assert ab["samples"] == pair["candles"]
    assert status.counters["observations"] == ab["samples"] > 300
    assert status.counters["units"] == sum(ab["units"].values()) > 0
    assert set(ab["allocation"]) == {"rules", "qlearning"}
    # the run's own experiment ends with the run (its arms' accounts do), stopped unless a
    # verdict came first
    assert ab["verdict"] in {"stopped", "winner", "broken arm"}
    assert "shadow mode" in status.reason and name in status.reason

    stored = SqlExperimentStore(run.runtime.db).load(name)
    assert stored is not None and stored.status is not ExperimentStatus.RUNNING
    assert "the run ended" in stored.verdict or stored.status is ExperimentStatus.CONCLUDED
    assert [o.step for o in stored.observations] == sorted({o.step for o in stored.observations})
    # each arm's observations compound to its account's equity: the rule arm is the twin, which
    # trades as production does from the same start
    initial = load_settings().initial_balance
    for arm, account in (("rules", pair["twin"]), ("qlearning", pair["challenger"])):
        growth = math.prod(1.0 + o.values[arm] / 1e4 for o in stored.observations)
        assert initial * growth == pytest.approx(account["equity"], rel=1e-9), arm
    assert pair["twin"]["equity"] == pytest.approx(run.summary["metrics"]["final_equity"])
    assert len(stored.assignments) == status.counters["units"]
    for a in stored.assignments:
        assert a.arm in a.probabilities and a.probability == a.probabilities[a.arm]
        assert a.version  # what the arm ran when it got the unit


@pytest.mark.slow
def test_a_declared_experiment_is_continued_by_the_runs_that_feed_it_never_counting_twice(
    replay: pytest.MonkeyPatch,
) -> None:
    replay.setenv("QT_REPLAY_DAYS", "10")
    args = ["experiments", "create", "q_vs_rules", "--arm", "rules:strategy", "--arm", "qlearning"]
    created = runner.invoke(app, [*args, "--allocation", "fixed", "--seed", "3"])
    assert created.exit_code == 0, created.output
    again = runner.invoke(app, args)
    assert again.exit_code != 0 and "exists" in again.output

    # a run killed before its end left its own experiment running; the next run stops it
    orphan = runner.invoke(app, ["experiments", "create", "rules_vs_qlearning@0123456789ab",
                                 "--arm", "rules", "--arm", "qlearning"])  # fmt: skip
    assert orphan.exit_code == 0, orphan.output
    replay.setenv("QT_AB_EXPERIMENT", "q_vs_rules")
    first = run_main_job(load_settings())
    left = SqlExperimentStore(first.runtime.db).load("rules_vs_qlearning@0123456789ab")
    assert left is not None and left.status is ExperimentStatus.STOPPED
    assert "its run ended without finishing" in left.verdict
    stored = SqlExperimentStore(first.runtime.db).load("q_vs_rules")
    assert stored is not None and stored.status is ExperimentStatus.RUNNING  # it outlives the run
    observed, units = len(stored.observations), len(stored.assignments)
    assert observed == first.summary["ab_testing"]["samples"] > 200 and units > 0
    # the same candles again: every step is at or before the last one counted
    second = run_main_job(load_settings())
    again_stored = SqlExperimentStore(second.runtime.db).load("q_vs_rules")
    assert again_stored is not None
    assert len(again_stored.observations) == observed
    assert second.summary["ab_testing"]["samples"] == observed

    shown = runner.invoke(app, ["status"])
    assert "experiment q_vs_rules [running]" in shown.output
    listed = runner.invoke(app, ["experiments", "list"])
    assert listed.exit_code == 0 and "q_vs_rules" in listed.output
    detail = runner.invoke(app, ["experiments", "show", "q_vs_rules"])
    assert detail.exit_code == 0 and "qlearning - rules" in detail.output, detail.output
    stopped = runner.invoke(app, ["experiments", "stop", "q_vs_rules", "--reason", "enough"])
    assert stopped.exit_code == 0, stopped.output
    final = SqlExperimentStore(second.runtime.db).load("q_vs_rules")
    assert final is not None and final.status is ExperimentStatus.STOPPED
    assert [a.event for a in final.audit] == ["created", "creator", "stopped"]
    assert "created by: operator" in detail.output
    twice = runner.invoke(app, ["experiments", "stop", "q_vs_rules", "--reason", "again"])
    assert twice.exit_code != 0 and "already stopped" in twice.output
