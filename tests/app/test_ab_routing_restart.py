"""The main job in route mode, killed mid-run and started again, ends where an uninterrupted
run ends (``experiments/router.py``'s state in the run database, migration experiments_0002).

Two homes, each with the same declared route experiment (the rule twin against the Q-learner,
a fixed 50/50 split) over the same 4 days of the shared data:

* **uninterrupted**: one main job, in this process;
* **restarted**: a child process runs the main job and dies with ``os._exit`` (no ``finally``,
  no lifecycle stop, as under SIGKILL) right after its second checkpoint commit, a day into
  the replay; then the main job runs again on that home, in this process. A new process has a
  new run id, so it replays the days from the start on fresh accounts, while the experiment
  (observations, units) and the router (its units, the positions it opened, its orders) are
  taken up from the store.

The restarted run must give the same experiment records, each counted once, the same orders
and fills on the real account and the same routing counts as the uninterrupted one. The kill
falls before the Q-learner's first table save (every 100 updates), so the restarted run's arms
decide as the uninterrupted run's do (a later kill would restart a Q-learner that learned more).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.app import main_job
from quantum_trader.app.cli.main import app
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.app.storage import open_settings_database
from quantum_trader.config import load_settings
from quantum_trader.config.settings import load_storage_settings

runner = CliRunner()
EXPERIMENT = "route_restart"
KILLED = 137
CHECKPOINT_EVERY = 24
SETTINGS = {
    "QT_REPLAY_DAYS": "4",
    "QT_TRAIN_DAYS": "30",
    "QT_OFFLINE": "true",
    "AI_ENGINE_ENSEMBLE_MODELS": "xgb,lgbm",
    "CONTINUOUS_LEARNING_ENABLED": "false",
    "QT_RL_AGENTS": "false",
    "QT_QLEARNING": "true",
    "QT_AB_EXPERIMENT": EXPERIMENT,
}

CHILD = f"""
import dataclasses, os
from quantum_trader.app import main_job
from quantum_trader.app.storage import open_settings_database
from quantum_trader.config import load_settings
from quantum_trader.config.settings import load_storage_settings
from quantum_trader.engine.checkpoint import Checkpointer

commit = Checkpointer.commit
seen = []

def commit_then_die(self, *, finished):
    commit(self, finished=finished)
    seen.append(finished)
    if len(seen) == 2:  # right after the second checkpoint is durable
        os._exit({KILLED})

Checkpointer.commit = commit_then_die
config = main_job.session_config
main_job.session_config = lambda s, r, **kw: dataclasses.replace(
    config(s, r, **kw), checkpoint_every={CHECKPOINT_EVERY}
)
main_job.run_main_job(load_settings(), write_report=False)
raise SystemExit("the replay ended before its second checkpoint")
"""


def _home(env: pytest.MonkeyPatch, home: Path, data_dir: Path) -> None:
    """Point the settings at ``home`` and declare the route experiment in its database."""
    for name, value in SETTINGS.items():
        env.setenv(name, value)
    env.setenv("QT_HOME", str(home))
    env.setenv("QT_DATA_DIR", str(data_dir))
    args = ["experiments", "create", EXPERIMENT, "--arm", "rules:strategy", "--arm", "qlearning"]
    created = runner.invoke(app, [*args, "--allocation", "fixed", "--mode", "route"])
    assert created.exit_code == 0, created.output


def _kill_mid_run(home: Path, data_dir: Path) -> None:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {  # no setting of the caller's leaks in (conftest's clean_env, for a child)
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QT_", "AI_ENGINE_", "ENABLE_")) and not k.endswith("_ENABLED")
    }
    env |= SETTINGS | {
        "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "QT_HOME": str(home),
        "QT_DATA_DIR": str(data_dir),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=900
    )
    assert child.returncode == KILLED, child.stderr[-3000:]


def _records(run: RunResult) -> tuple[list[Any], list[Any]]:
    """The experiment's stored observations and units, as values to compare."""
    stored = SqlExperimentStore(run.runtime.db).load(EXPERIMENT)
    assert stored is not None
    observations = [(o.step, o.values, o.drawdowns) for o in stored.observations]
    units = [(a.unit, a.arm, a.probability, a.at) for a in stored.assignments]
    return observations, units


def _real_account(run: RunResult) -> tuple[list[Any], list[Any]]:
    """The real account's orders (with why they were sent) and fills over the replay."""
    assert run.session is not None
    orders = [
        (o.created_at, o.symbol, o.side.value, o.order_type.value, o.quantity, o.price,
         o.stop_price, o.reduce_only, o.status.value, o.filled_quantity, o.reason)
        for o in sorted(run.session.orders, key=lambda o: (o.created_at, o.client_order_id))
    ]  # fmt: skip
    fills = [(f.time, f.symbol, f.side.value, f.quantity, f.price) for f in run.session.fills]
    return orders, fills


@pytest.mark.data
@pytest.mark.slow
def test_a_route_mode_main_job_killed_and_restarted_ends_as_an_uninterrupted_one(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    config = main_job.session_config  # the child's checkpoints, so the runs share one config
    clean_env.setattr(
        main_job,
        "session_config",
        lambda s, r, **kw: dataclasses.replace(
            config(s, r, **kw), checkpoint_every=CHECKPOINT_EVERY
        ),
    )
    _home(clean_env, tmp_path / "whole", data_dir)
    whole = run_main_job(load_settings(), write_report=False)

    _home(clean_env, tmp_path / "killed", data_dir)
    _kill_mid_run(tmp_path / "killed", data_dir)
    stored = SqlExperimentStore(open_settings_database(load_storage_settings())).load(EXPERIMENT)
    assert stored is not None
    whole_observations, whole_units = _records(whole)
    # the child died mid-run: part of the experiment is stored, not all of it
    assert 0 < len(stored.observations) < len(whole_observations)
    restarted = run_main_job(load_settings(), write_report=False)

    observations, units = _records(restarted)
    assert observations == whole_observations  # each candle once, with the same values
    assert units == whole_units
    assert _real_account(restarted) == _real_account(whole)
    routing = restarted.summary["ab_testing"]["routing"]
    assert routing == whole.summary["ab_testing"]["routing"]
    assert routing["sent"] > 0, "the router sent no order: the test shows nothing"
