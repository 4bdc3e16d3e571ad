"""Module 18's candidate experiments for the RL sizer's line (``app/ab_testing.py``
``attach_sizer_candidates``, ``app/policy_candidates.py``), without training: the sizer line's
real ``on_serving`` (the daemon's hook, ``app/rl_sizing.SizerTraining``) drives it, the line's
shadow pair is two portfolios whose equity the test writes, the registry and the experiment
store are a real SQLite database's.

The pair's accounts are built by ``ShadowComposer.sizer_pair`` and differ only in the sizer;
here their equity curves stand for that pair's, so the tests check what the experiments do
with them: the arms, the guard, supersede and end, and a concluded winner's promotion."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.agents.policy_bundle import load_bundle
from quantum_trader.agents.rl_sizer import FRACTION_ACTIONS, RLSizer
from quantum_trader.agents.sizing_observation import SIZING_OBSERVATION_SIZE, sizing_observation
from quantum_trader.app.ab_testing import MODULE, attach_sizer_candidates
from quantum_trader.app.policy_candidates import summary
from quantum_trader.app.rl_serving import SIZER_POLICY
from quantum_trader.app.rl_sizing import SizerTraining, attach_sizer_canary
from quantum_trader.clock import SimulatedClock
from quantum_trader.experiments.candidates import CONTROL, TREATMENT, CandidateExperiments
from quantum_trader.experiments.creators import creator_of
from quantum_trader.experiments.records import ExperimentStatus
from quantum_trader.experiments.spec import MIN_SAMPLES
from quantum_trader.learning.policies import policy_key, register_policy
from quantum_trader.learning.registry import ModelRegistry, Stage
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.status.registry import StatusRegistry
from tests.agents.bundles import random_linear, store_linear_bundle

HOUR = 3_600_000
START = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
KEY = policy_key("global", SIZER_POLICY)
PREFIX = "rl_sizer.global.h0@v"


@dataclass(frozen=True)
class FakePolicy:
    """What ``RLSizer.replace`` and the wiring read of a sizing ``OnnxPolicy``."""

    registry_version: int
    actions: tuple[str, ...] = FRACTION_ACTIONS

    @property
    def version(self) -> str:
        return f"{SIZER_POLICY}@{self.registry_version}"


@dataclass
class Run:
    """The parts of a run that the sizer's candidate experiments touch; ``edge``: the
    challenger account's return over the twin's per candle (a fraction)."""

    registry: ModelRegistry
    root: Path
    clock: SimulatedClock
    edge: float = 0.0
    twin: Portfolio = field(default_factory=lambda: Portfolio("twin"))
    challenger: Portfolio = field(default_factory=lambda: Portfolio("challenger"))
    followers: list[Any] = field(default_factory=list)
    components: list[Any] = field(default_factory=list)
    training: SizerTraining | None = None

    def candle(self) -> None:
        t = self.clock.now() + HOUR
        self.clock.advance_to(t)
        i = len(self.twin.equity_times)
        market = 0.0005 * math.sin(i)  # both accounts' common part (the same prices)
        sizing = self.edge * (1.0 + 0.5 * math.cos(3 * i))  # what the sizing alone adds
        for book, r in ((self.twin, market), (self.challenger, market + sizing)):
            before = book.equity_values[-1] if book.equity_values else 100.0
            book.equity_times.append(t)
            book.equity_values.append(before * (1.0 + r))
        for follow in self.followers:
            follow("BTCUSDT", t - HOUR, t, 1.0, 1.0, 1.0, 1.0, 1.0)

    def candles(self, n: int) -> None:
        for _ in range(n):
            self.candle()

    def land(self, n: int, stage: Stage = Stage.SHADOW) -> None:
        """The daemon's landing of a new version ``n`` (``rl/daemon.py`` ``apply``)."""
        register(self.registry, self.root, n)
        if stage is Stage.SHADOW:
            for older in self.registry.versions(KEY):
                if older.stage is Stage.SHADOW:
                    self.registry.retire(KEY, older.version, actor="rl", reason="shadows")
        self.registry.promote(KEY, n, actor="rl_v3_training", reason="trial", to=stage)
        assert self.training is not None
        self.training.on_serving(stage, cast(Any, FakePolicy(n)))

    def stop(self) -> None:
        for component in reversed(self.components):
            component.stop()


def register(registry: ModelRegistry, root: Path, n: int) -> None:
    weights, bias = random_linear(n, SIZING_OBSERVATION_SIZE, len(FRACTION_ACTIONS))
    store, digest = store_linear_bundle(root, weights, bias, actions=FRACTION_ACTIONS)
    manifest = replace(load_bundle(store, digest).manifest, name=SIZER_POLICY, scope="global")
    register_policy(registry, digest, manifest, actor="rl_v3_training", reason="trial")


def _attach(
    run: Run, store: SqlExperimentStore, served: int | None
) -> tuple[StatusRegistry, CandidateExperiments]:
    """The sizer's line after the daemon's bootstrap served ``served`` in SHADOW, and module
    18's candidate experiments for it."""
    status = StatusRegistry(run.clock)
    sizing = status.register("rl_position_sizing", enabled=True, reason="test")
    pair = SimpleNamespace(twin=SimpleNamespace(portfolio=run.twin),
                           challenger=SimpleNamespace(portfolio=run.challenger))  # fmt: skip
    run.training = SizerTraining(
        RLSizer(None, sizing_observation, name="rl_sizer", handle=sizing),  # production's
        cast(Any, SimpleNamespace(key=KEY, registry=run.registry)),
        sizing,
        shadow=RLSizer(None, sizing_observation, name="rl_sizer_shadow"),
        trading=cast(Any, SimpleNamespace(active={"sizer:rl_sizer_shadow": pair})),
    )
    # the line's canary rule, as ``attach_rl_sizing`` wires it (test_ab_sizer_canary.py)
    attach_sizer_canary(run.training, run.twin, run.challenger,
                        lambda handler, _skipper: run.followers.append(handler), seed=5,
                        control="fixed_fractional")  # fmt: skip
    if served is not None:
        run.land(served)
    rt = SimpleNamespace(clock=run.clock, settings=SimpleNamespace(sizer="fixed_fractional",
                                                                   seed=5))  # fmt: skip
    agents = SimpleNamespace(sizing=run.training)
    candidates = attach_sizer_candidates(
        cast(Any, rt),
        cast(Any, SimpleNamespace(follow=run.followers.append)),
        cast(Any, SimpleNamespace(start=run.components.append)),
        cast(Any, agents),
        store,
        status.register(MODULE, enabled=True, reason="test"),
    )
    assert candidates is not None
    return status, candidates


@pytest.fixture
def run(sqlite_engine: Engine, tmp_path: Path) -> Run:
    clock = SimulatedClock(START)
    return Run(ModelRegistry(SqlRegistryRepository(sqlite_engine), clock), tmp_path, clock)


@pytest.fixture
def store(sqlite_engine: Engine) -> SqlExperimentStore:
    return SqlExperimentStore(sqlite_engine)


def test_a_sizer_candidate_gets_an_experiment_between_the_sizing_accounts(
    run: Run, store: SqlExperimentStore
) -> None:
    run.edge = 0.0002
    status, _ = _attach(run, store, served=1)
    assert store.names() == [f"{PREFIX}1"]
    stored = store.load(f"{PREFIX}1")
    assert stored is not None and stored.created_at == START and stored.spec.mode == "shadow"
    arms = {a.name: (a.kind, a.ref) for a in stored.spec.arms}
    assert arms == {
        CONTROL: ("sizer", "rl_sizer/global/h0@production"),
        TREATMENT: ("sizer", "rl_sizer/global/h0@v1"),
    }
    assert "rl_v3_training" in creator_of(stored) and "rl_sizer/global/h0 v1" in creator_of(stored)
    run.candles(4)
    run.stop()  # the run's end: the experiment goes on in the store

    stored = store.load(f"{PREFIX}1")
    assert stored is not None and stored.status is ExperimentStatus.RUNNING
    for o in stored.observations:  # each arm's own account's return, in basis points
        i = run.twin.equity_times.index(o.step)
        for arm, book in ((CONTROL, run.twin), (TREATMENT, run.challenger)):
            expected = (book.equity_values[i] / book.equity_values[i - 1] - 1.0) * 1e4
            assert o.values[arm] == pytest.approx(expected)
    assert len(stored.observations) == 3  # the first point has no return before it
    assert {o.values[TREATMENT] - o.values[CONTROL] > 0 for o in stored.observations} == {True}
    counters = status.get(MODULE).status.counters
    assert counters["sizer_candidate_experiments_created"] == 1
    assert counters["sizer_candidate_observations"] == 3
    assert "candidate_experiments_created" not in counters  # the selector line's own names


def test_guard_supersede_and_a_production_change(run: Run, store: SqlExperimentStore) -> None:
    status, candidates = _attach(run, store, served=1)
    run.candles(5)
    run.land(2)  # v1 stayed 5 candles: v2 gets no experiment, v1's stops
    v1 = store.load(f"{PREFIX}1")
    assert v1 is not None and v1.status is ExperimentStatus.STOPPED
    assert "superseded: v2" in v1.verdict
    assert store.names() == [f"{PREFIX}1"]
    counters = status.get(MODULE).status.counters
    assert counters["sizer_candidate_experiments_skipped"] == 1
    assert counters["sizer_candidate_experiments_superseded"] == 1
    shown = summary(candidates)  # the run summary's ``ab_testing.sizer_candidates``
    assert shown["line"] == "rl_sizer/global/h0" and shown["running"] is None
    assert shown["skipped"] == 1 and "stayed 5 candles" in shown["skip_reason"]

    run.candles(MIN_SAMPLES)
    run.land(3)  # v2 stayed long enough: v3 gets its own
    assert store.names() == [f"{PREFIX}1", f"{PREFIX}3"]
    assert store.status(f"{PREFIX}3") is ExperimentStatus.RUNNING
    run.candles(2)
    run.land(4, Stage.PRODUCTION)  # its control is no longer production's sizing
    v3 = store.load(f"{PREFIX}3")
    assert v3 is not None and v3.status is ExperimentStatus.STOPPED
    assert "production changed to rl_sizer@4" in v3.verdict
    assert run.registry.get(KEY, 3).stage is Stage.SHADOW  # a stop promotes nothing
    assert status.get(MODULE).status.counters["sizer_candidate_experiments_created"] == 2


def test_a_winning_candidate_is_promoted_through_the_registry(
    run: Run, store: SqlExperimentStore
) -> None:
    run.edge = 0.0010  # the candidate's sizing adds 10 bp a candle
    _attach(run, store, served=1)
    run.candles(MIN_SAMPLES + 20)

    stored = store.load(f"{PREFIX}1")
    assert stored is not None and stored.status is ExperimentStatus.CONCLUDED
    assert stored.verdict.startswith(f"winner: {TREATMENT}")
    promotion = [e.detail for e in stored.audit if e.event == "promotion"]
    assert promotion == ["rl_sizer/global/h0 v1 promoted to CANARY"]
    assert run.registry.get(KEY, 1).stage is Stage.CANARY
    change = run.registry.history(KEY)[-1]
    assert change.actor == f"{MODULE}:{PREFIX}1" and change.to_stage is Stage.CANARY


def test_a_winning_control_promotes_nothing(run: Run, store: SqlExperimentStore) -> None:
    run.edge = -0.0010  # the candidate's sizing loses 10 bp a candle
    status, _ = _attach(run, store, served=1)
    run.candles(MIN_SAMPLES + 20)

    stored = store.load(f"{PREFIX}1")
    assert stored is not None and stored.verdict.startswith(f"winner: {CONTROL}")
    promotion = [e.detail for e in stored.audit if e.event == "promotion"]
    assert promotion == [f"{CONTROL} won: rl_sizer/global/h0 v1 is not promoted"]
    assert run.registry.get(KEY, 1).stage is Stage.SHADOW
    assert status.get(MODULE).status.counters["sizer_candidate_experiments_created"] == 1
