"""Module 18's candidate experiments in the main job's wiring (``app/ab_testing.py``
``attach_candidates``; the sizer line's: ``tests/app/test_ab_sizer_candidates.py``), without
training: the PPO agents' real ``on_serving`` (the daemon's hook) drives it, the line's shadow
pair is two portfolios, the store is the run database's. The SHADOW policy served before the
replay gets its experiment at the replay's start; each later SHADOW landing supersedes it at
the landing's engine time; a production promotion stops it; ``experiments list|show`` say who
created each."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.agents.observation import selector_observation
from quantum_trader.agents.policy_selector import PolicySelector
from quantum_trader.app.ab_testing import MODULE, attach_candidates
from quantum_trader.app.cli.main import app
from quantum_trader.app.main_job import run_main_job
from quantum_trader.app.rl_agents import RLAgents
from quantum_trader.app.storage import open_settings_database
from quantum_trader.clock import SimulatedClock
from quantum_trader.config import load_settings
from quantum_trader.config.settings import load_storage_settings
from quantum_trader.experiments.creators import creator_of
from quantum_trader.experiments.records import ExperimentStatus
from quantum_trader.experiments.spec import MIN_SAMPLES
from quantum_trader.learning.policies import policy_key
from quantum_trader.learning.registry import Stage
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.status.registry import StatusRegistry
from quantum_trader.strategy.selector import STRATEGY_NAMES

HOUR = 3_600_000
START = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
KEY = policy_key("global")
V3, V4 = "ppo_selector.global.h0@v3", "ppo_selector.global.h0@v4"
runner = CliRunner()


@dataclass(frozen=True)
class FakePolicy:
    """What ``PolicySelector.replace`` and the wiring read of an ``OnnxPolicy``."""

    registry_version: int
    actions: tuple[str, ...] = STRATEGY_NAMES

    @property
    def version(self) -> str:
        return f"ppo_selector@{self.registry_version}"


@dataclass
class Run:
    """The parts of a run that ``attach_candidates`` touches."""

    clock: SimulatedClock = field(default_factory=lambda: SimulatedClock(START))
    twin: Portfolio = field(default_factory=lambda: Portfolio("twin"))
    challenger: Portfolio = field(default_factory=lambda: Portfolio("challenger"))
    followers: list[Any] = field(default_factory=list)
    components: list[Any] = field(default_factory=list)
    stages: dict[int, Stage] = field(default_factory=dict)  # the registry's view

    def candle(self) -> None:
        t = self.clock.now() + HOUR
        self.clock.advance_to(t)
        for book, equity in ((self.twin, 100.0 + t % 7), (self.challenger, 100.0 + t % 5)):
            book.equity_times.append(t)
            book.equity_values.append(equity)
        for follow in self.followers:
            follow("BTCUSDT", t - HOUR, t, 1.0, 1.0, 1.0, 1.0, 1.0)

    def stop(self) -> None:
        for component in reversed(self.components):
            component.stop()


def _attach(run: Run, store: SqlExperimentStore, served: int | None) -> RLAgents:
    """The agents after their daemon's bootstrap served ``served`` in SHADOW, and module 18."""
    registry = SimpleNamespace(get=lambda key, n: SimpleNamespace(stage=run.stages[n]))
    trainer = SimpleNamespace(key=KEY, registry=registry)
    pair = SimpleNamespace(twin=SimpleNamespace(portfolio=run.twin),
                           challenger=SimpleNamespace(portfolio=run.challenger))  # fmt: skip
    status = StatusRegistry(run.clock)
    handle = status.register(MODULE, enabled=True, reason="test")
    agents = RLAgents(
        PolicySelector(None, selector_observation, name="production"),
        PolicySelector(None, selector_observation, name="shadow"),
        cast(Any, trainer),
        status.register("rl_meta_strategy", enabled=True, reason="test"),
        trading=cast(Any, SimpleNamespace(active={"ppo": pair})),
    )
    if served is not None:
        run.stages[served] = Stage.SHADOW
        agents.on_serving(Stage.SHADOW, cast(Any, FakePolicy(served)))
    rt = SimpleNamespace(clock=run.clock, settings=SimpleNamespace(selector="rules", seed=5))
    session = SimpleNamespace(follow=run.followers.append)
    lifecycle = SimpleNamespace(start=run.components.append)
    candidates = attach_candidates(cast(Any, rt), cast(Any, session), cast(Any, lifecycle),
                                   agents, store, handle)  # fmt: skip
    assert candidates is not None
    return agents


@pytest.fixture
def store(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> SqlExperimentStore:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    return SqlExperimentStore(open_settings_database(load_storage_settings()))


def test_the_daemons_shadow_landings_get_experiments_in_the_run(
    store: SqlExperimentStore,
) -> None:
    run = Run()
    agents = _attach(run, store, served=3)
    assert store.names() == [V3]  # the policy the bootstrap served, at the replay's start
    v3 = store.load(V3)
    assert v3 is not None and v3.created_at == START and v3.spec.mode == "shadow"
    for _ in range(MIN_SAMPLES):  # v3 stays long enough for the next one to get its own
        run.candle()

    run.stages[4] = Stage.SHADOW  # the daemon's next run lands v4 in SHADOW
    agents.on_serving(Stage.SHADOW, cast(Any, FakePolicy(4)))
    landed = run.clock.now()
    again = store.load(V3)
    assert again is not None and again.status is ExperimentStatus.STOPPED
    assert "superseded: v4" in again.verdict and again.audit[-1].at == landed
    # the accounts' first candle has no return; the last was not complete at the stop
    assert [o.step for o in again.observations] == [START + HOUR * i for i in range(2, MIN_SAMPLES)]
    # a second landing of the same candidate (the daemon serving it again) adds nothing
    agents.on_serving(Stage.SHADOW, cast(Any, FakePolicy(4)))
    assert store.names() == [V3, V4]
    for _ in range(3):
        run.candle()
    run.stop()  # the run's end: v4's experiment goes on in the store

    v4 = store.load(V4)
    assert v4 is not None and v4.status is ExperimentStatus.RUNNING and v4.created_at == landed
    assert [o.step for o in v4.observations] == [landed + HOUR * i for i in (1, 2, 3)]
    assert {o.values["production"] for o in v4.observations} != {0.0}
    assert [a.event for a in v4.audit] == ["created", "creator"]
    assert "rl_v3_training put ppo_selector/global/h0 v4 in SHADOW" in v4.audit[1].detail

    # a restart whose daemon serves v4 again resumes it; a promotion stops it
    rerun = Run()
    agents = _attach(rerun, store, served=4)
    assert store.names() == [V3, V4]
    rerun.stages[5] = Stage.PRODUCTION
    agents.on_serving(Stage.PRODUCTION, cast(Any, FakePolicy(5)))
    stopped = store.load(V4)
    assert stopped is not None and stopped.status is ExperimentStatus.STOPPED
    assert "production changed to ppo_selector@5" in stopped.verdict


def test_no_shadow_policy_no_experiment(store: SqlExperimentStore) -> None:
    run = Run()
    _attach(run, store, served=None)
    run.candle()
    assert store.names() == []


def test_experiments_list_and_show_say_who_created_each(store: SqlExperimentStore) -> None:
    _attach(Run(), store, served=3)
    made = runner.invoke(app, ["experiments", "create", "by_hand", "--arm", "a", "--arm", "b"])
    assert made.exit_code == 0, made.output

    listed = runner.invoke(app, ["experiments", "list"], env={"COLUMNS": "400"})
    assert listed.exit_code == 0, listed.output
    rows = {line.split("│")[1].strip(): line for line in listed.output.splitlines()
            if line.count("│") > 2}  # fmt: skip
    assert "learning daemon: rl_v3_training" in rows[V3]
    assert "operator (quantum-trader experiments create)" in rows["by_hand"]
    narrow = runner.invoke(app, ["experiments", "list"], env={"COLUMNS": "80"})
    assert V3 in narrow.output and "by_hand" in narrow.output  # names whole in 80 columns
    shown = runner.invoke(app, ["experiments", "show", V3])
    assert shown.exit_code == 0, shown.output
    assert "created by: learning daemon: rl_v3_training: ppo_selector/global/h0 v3" in shown.output


@pytest.mark.slow
def test_in_the_main_job_every_shadow_landing_of_the_daemon_has_its_experiment(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    for name, value in {
        "QT_HOME": str(tmp_path / "home"),
        "QT_DATA_DIR": str(data_dir),
        "QT_REPLAY_DAYS": "6",
        "QT_TRAIN_DAYS": "90",
        "QT_OFFLINE": "true",
        "AI_ENGINE_ENSEMBLE_MODELS": "xgb,lgbm",
        "CONTINUOUS_LEARNING_ENABLED": "false",
        "QT_RL_AGENTS": "true",
        "QT_QLEARNING": "true",
        "QT_RL_BOOTSTRAP_EPISODES": "2",
    }.items():
        clean_env.setenv(name, value)
    run = run_main_job(load_settings())

    training = {s.name: s for s in run.runtime.status.snapshot()}["rl_v3_training"].counters
    store = SqlExperimentStore(run.runtime.db)
    mine = [n for n in store.names() if n.startswith("ppo_selector.global.h0@v")]
    # the daemon lands a candidate each day (24 candles), under the 100-candle minimum: the
    # bootstrap's candidate gets an experiment, superseded undecided by the first day's; the
    # days' candidates get none, each counted with the reason
    kept = training["kept_in_shadow"]
    assert kept >= 3 and len(mine) == 1
    stored = store.load(mine[0])
    assert stored is not None and stored.status is ExperimentStatus.STOPPED
    assert "superseded" in stored.verdict and stored.spec.mode == "shadow"
    assert creator_of(stored).startswith("learning daemon: rl_v3_training")
    assert 0 < len(stored.observations) < stored.spec.min_samples
    summary = run.summary["ab_testing"]["candidates"]
    assert summary["created"] == mine and summary["superseded"] == mine
    assert summary["running"] is None and summary["skipped"] == kept - 1
    assert "candles in the shadow, fewer than the 100" in summary["skip_reason"]
    evidence = {s.name: s for s in run.runtime.status.snapshot()}[MODULE].counters
    assert evidence["candidate_experiments_skipped"] == kept - 1

    # the RL sizer's line (same daemon, same schedule, its own shadow pair) gets the same
    sizers = [n for n in store.names() if n.startswith("rl_sizer.global.h0@v")]
    sizer_kept = training["sizer_kept_in_shadow"]
    assert sizer_kept >= 3 and len(sizers) == 1
    first = store.load(sizers[0])
    assert first is not None and first.status is ExperimentStatus.STOPPED
    assert {a.kind for a in first.spec.arms} == {"sizer"} and "superseded" in first.verdict
    assert 0 < len(first.observations) < first.spec.min_samples
    sized = run.summary["ab_testing"]["sizer_candidates"]
    assert sized["created"] == sizers and sized["skipped"] == sizer_kept - 1
    assert evidence["sizer_candidate_experiments_created"] == 1
    assert evidence["sizer_candidate_experiments_skipped"] == sizer_kept - 1
