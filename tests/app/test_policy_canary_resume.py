"""A CANARY policy an earlier run left in a policy line's registry (``rl/policy_canary.py``
``PolicyCanary.resume``, wired by ``RLAgents.start`` and ``SizerTraining.start`` through
``app/rl_serving.resume_canary``): the next run's line serves it again, at the share its
``canary_steps`` gives, and judges it on this run's evidence alone; one that would look ahead
in the replay, or whose bundle is refused, is retired with the reason, and never served.

The earlier run is a second registry over the same SQLite database with its own engine clock;
the next run's lines are wired as ``tests/app/test_ab_selector_canary.py`` and
``tests/app/test_ab_sizer_canary.py`` wire them (real ``on_serving``, real ONNX policies, two
portfolios standing for the shadow pair), with a daemon whose bootstrap lands a SHADOW v2."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.agents.observation import SELECTOR_OBSERVATION_SIZE, selector_observation
from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import load_bundle
from quantum_trader.agents.policy_selector import CANARY, FALLBACK, POLICY, PolicySelector
from quantum_trader.agents.rl_sizer import FRACTION_ACTIONS, RLSizer
from quantum_trader.agents.sizing_observation import SIZING_OBSERVATION_SIZE, sizing_observation
from quantum_trader.app.rl_agents import RLAgents, attach_selector_canary
from quantum_trader.app.rl_serving import SIZER_POLICY
from quantum_trader.app.rl_sizing import SizerTraining, attach_sizer_canary
from quantum_trader.clock import SimulatedClock
from quantum_trader.domain.time import fmt
from quantum_trader.experiments.spec import MIN_SAMPLES
from quantum_trader.learning.policies import policy_key, register_policy
from quantum_trader.learning.registry import ModelKey, ModelRegistry, ModelVersion, Stage
from quantum_trader.rl.sizer_canary import canary_draw
from quantum_trader.status.registry import StatusRegistry
from quantum_trader.strategy.selector import STRATEGY_NAMES, TREND_FOLLOWING
from tests.agents.bundles import store_linear_bundle
from tests.app.test_ab_selector_canary import meta, select
from tests.app.test_ab_sizer_canary import size_entries, sizing
from tests.app.test_ab_sizer_candidates import HOUR, START, Run

SEED = 5
DAY = 24 * HOUR
SELECTOR_KEY = policy_key("global")
SIZER_KEY = policy_key("global", SIZER_POLICY)


@dataclass
class Line:
    """One policy line of the next run, as its ``start`` sees it."""

    name: str  # "selector" | "sizer"
    key: ModelKey
    owner: RLAgents | SizerTraining
    status: StatusRegistry
    daemon: Daemon

    def start(self) -> None:
        ctx = SimpleNamespace(scheduler=None, clock=self.daemon.run.clock)
        self.owner.start(cast(Any, ctx), cast(Any, None), START)

    def counters(self) -> dict[str, int]:
        return meta(self.status) if self.name == "selector" else sizing(self.status)

    def decided_by(self, n: int) -> list[tuple[str, int, str]]:
        """``n`` decisions of production's selector or sizer: (symbol, time, who decided)."""
        at = self.daemon.run.clock.now()
        if isinstance(self.owner, RLAgents):
            return [(s, t, by) for s, t, by, _ in select(self.owner.production, n, at)]
        return [(s, t, by) for s, t, by, _ in size_entries(self.owner.sizer, n, at)]


@dataclass
class Daemon:
    """The line's training daemon as its ``start`` uses it: the bootstrap lands v2 in SHADOW
    (the line had none serving), through the line's ``on_serving``."""

    run: Run
    key: ModelKey
    store: LocalArtifactStore
    kind: str
    owner: Any = None
    started: list[int] = field(default_factory=list)

    @property
    def registry(self) -> ModelRegistry:
        return self.run.registry

    def bootstrap(self, now: int, _worker: object) -> ModelVersion:
        self.started.append(now)
        version = register(self.registry, self.store, self.kind, trained_at=now)
        moved = self.registry.promote(self.key, version.version, actor="rl", reason="first",
                                      to=Stage.SHADOW)  # fmt: skip
        self.owner.on_serving(Stage.SHADOW, policy(self.store, moved))
        return moved

    def start(self, *_args: object) -> None:
        """The schedule: nothing runs in these tests."""


def register(
    registry: ModelRegistry, store: LocalArtifactStore, kind: str, *, trained_at: int
) -> ModelVersion:
    """A real policy of the line in ``store``: the selector's always selects trend following,
    the sizer's always sizes f = 0.25."""
    actions = STRATEGY_NAMES if kind == "selector" else FRACTION_ACTIONS
    size = SELECTOR_OBSERVATION_SIZE if kind == "selector" else SIZING_OBSERVATION_SIZE
    weights = np.zeros((size, len(actions)), dtype=np.float32)
    bias = np.zeros(len(actions), dtype=np.float32)
    bias[STRATEGY_NAMES.index(TREND_FOLLOWING) if kind == "selector" else 1] = 20.0
    _, digest = store_linear_bundle(store.root, weights, bias, actions=actions)
    name = "ppo_selector" if kind == "selector" else SIZER_POLICY
    manifest = replace(load_bundle(store, digest).manifest, name=name, scope="global")
    return register_policy(registry, digest, manifest, actor="rl_v3_training", reason="trial",
                           trained_at=trained_at)  # fmt: skip


def policy(store: LocalArtifactStore, version: ModelVersion) -> OnnxPolicy:
    return OnnxPolicy(load_bundle(store, version.artifact_hash), registry_version=version.version)


def earlier_run(
    engine: Engine,
    store: LocalArtifactStore,
    kind: str,
    *,
    trained_at: int,
    moved_at: int,
    steps: int = 0,
) -> None:
    """What an earlier run left: v1 trained at ``trained_at``, in SHADOW, then CANARY (its
    candidate experiment's winner) with ``steps`` canary steps, moved at ``moved_at`` on that
    run's engine clock; it ended before the canary was judged."""
    registry = ModelRegistry(SqlRegistryRepository(engine), SimulatedClock(moved_at))
    key = SELECTOR_KEY if kind == "selector" else SIZER_KEY
    assert register(registry, store, kind, trained_at=trained_at).version == 1
    registry.promote(key, 1, actor="rl_v3_training", reason="trial", to=Stage.SHADOW)
    registry.promote(key, 1, actor="ab_testing:candidate@v1", reason="CONCLUDED: candidate")
    for _ in range(steps):
        registry.step_canary(key, 1, actor="rule:canary", reason="better")
    assert registry.get(key, 1).stage is Stage.CANARY


def next_run(run: Run, store: LocalArtifactStore, kind: str) -> Line:
    """The next run's line, wired as ``attach_rl_agents`` / ``attach_rl_sizing`` wire it."""
    status = StatusRegistry(run.clock)
    pair = SimpleNamespace(twin=SimpleNamespace(portfolio=run.twin),
                           challenger=SimpleNamespace(portfolio=run.challenger))  # fmt: skip
    follow = lambda handler, _skipper: run.followers.append(handler)  # noqa: E731
    key = SELECTOR_KEY if kind == "selector" else SIZER_KEY
    daemon = Daemon(run, key, store, kind)
    owner: RLAgents | SizerTraining
    if kind == "selector":
        handle = status.register("rl_meta_strategy", enabled=True, reason="test")
        owner = RLAgents(
            PolicySelector(None, selector_observation, handle=handle),
            PolicySelector(None, selector_observation, name="ppo_selector_shadow"),
            cast(Any, daemon),
            handle,
            trading=cast(Any, SimpleNamespace(active={"selector:ppo_selector_shadow": pair})),
        )
        attach_selector_canary(owner, run.twin, run.challenger, follow, seed=SEED,
                               control="regime_rules")  # fmt: skip
    else:
        handle = status.register("rl_position_sizing", enabled=True, reason="test")
        owner = SizerTraining(
            RLSizer(None, sizing_observation, name="rl_sizer", handle=handle),
            cast(Any, daemon),
            handle,
            shadow=RLSizer(None, sizing_observation, name="rl_sizer_shadow"),
            trading=cast(Any, SimpleNamespace(active={"sizer:rl_sizer_shadow": pair})),
        )
        attach_sizer_canary(owner, run.twin, run.challenger, follow, seed=SEED,
                            control="fixed_fractional")  # fmt: skip
    daemon.owner = owner
    return Line(kind, key, owner, status, daemon)


@pytest.fixture
def run(sqlite_engine: Engine, tmp_path: Path) -> Run:
    clock = SimulatedClock(START)  # the next run's replay starts at START
    return Run(ModelRegistry(SqlRegistryRepository(sqlite_engine), clock), tmp_path, clock)


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def shadow_version(line: Line) -> int | None:
    served = line.owner.shadow.policy if line.owner.shadow is not None else None
    return None if served is None else served.registry_version


@pytest.mark.parametrize("kind", ["selector", "sizer"])
def test_a_canary_left_by_an_earlier_run_serves_again_at_its_share(
    run: Run, artifacts: LocalArtifactStore, sqlite_engine: Engine, kind: str
) -> None:
    earlier_run(sqlite_engine, artifacts, kind, trained_at=START - 9 * DAY,
                moved_at=START - 2 * DAY, steps=1)  # fmt: skip
    line = next_run(run, artifacts, kind)
    line.start()

    assert line.daemon.started == [START]
    # the shadow account serves the canary as its evidence; the bootstrap's landing waits
    assert shadow_version(line) == 1
    assert line.owner.held is not None and line.owner.held.registry_version == 2
    made = line.decided_by(800)
    canary = [(s, t) for s, t, by in made if by == CANARY]
    assert canary == [(s, t) for s, t, _ in made if canary_draw(SEED, s, t) < 0.5]
    assert 360 <= len(canary) <= 440  # its share after one canary step: 50 %
    c = line.counters()
    assert c[f"{kind}_canary_resumed"] == 1 and c[f"{kind}_canary_version"] == 1
    assert c[f"{kind}_canary_share_ppm"] == 500_000
    unit = "decisions" if kind == "selector" else "entries"
    assert c[f"{kind}_canary_{unit}"] == c["decided_by_canary"] == len(canary)
    # resuming is no registry move: v1 is still the earlier run's CANARY, at its step
    assert run.registry.get(line.key, 1).stage is Stage.CANARY
    assert run.registry.canary_steps(line.key, 1) == 1

    # judged by the same rule, on this run's candles alone: its last share → PRODUCTION
    run.edge = 0.0010
    run.candles(MIN_SAMPLES + 10)
    assert run.registry.get(line.key, 1).stage is Stage.PRODUCTION
    promotion = run.registry.history(line.key)[-1]
    assert promotion.actor == f"rule:{kind}_canary" and promotion.at > START
    samples = int(promotion.reason.split(" candles, ")[0].rsplit(" ", 1)[1])
    assert MIN_SAMPLES <= samples <= MIN_SAMPLES + 10  # no evidence of the earlier run's
    assert {by for _s, _t, by in line.decided_by(40)} == {POLICY}
    assert shadow_version(line) == 2  # the landing that waited is served now


def test_a_resumed_canary_that_loses_is_retired(
    run: Run, artifacts: LocalArtifactStore, sqlite_engine: Engine
) -> None:
    earlier_run(sqlite_engine, artifacts, "sizer", trained_at=START - 9 * DAY,
                moved_at=START - 2 * DAY)  # fmt: skip
    line = next_run(run, artifacts, "sizer")
    line.start()
    assert line.counters()["sizer_canary_share_ppm"] == 250_000  # no step taken: 25 %
    assert {by for _s, _t, by in line.decided_by(40)} == {CANARY, FALLBACK}

    run.edge = -0.0010
    run.candles(MIN_SAMPLES + 10)
    change = run.registry.history(line.key)[-1]
    assert (change.version, change.to_stage, change.actor) == (1, Stage.RETIRED,
                                                               "rule:sizer_canary")  # fmt: skip
    assert change.reason.startswith("worse than fixed_fractional: ")
    assert {by for _s, _t, by in line.decided_by(100)} == {FALLBACK}


#: an earlier run's canary that this replay must not serve: (trained at, moved into CANARY at,
#: the audited reason's start)
LOOKS_AHEAD = [
    (START + DAY, START + 2 * DAY, f"trained at {fmt(START + DAY)}, after this replay's start"),
    (
        START - DAY,
        START + 2 * DAY,
        f"its CANARY move at {fmt(START + 2 * DAY)} was decided on candles after this replay's "
        f"start {fmt(START)}",
    ),
]
LOOKS_AHEAD_IDS = ["trained_after_start", "moved_after_start"]


@pytest.mark.parametrize("kind", ["selector", "sizer"])
@pytest.mark.parametrize(("trained_at", "moved_at", "why"), LOOKS_AHEAD, ids=LOOKS_AHEAD_IDS)
def test_a_canary_that_would_look_ahead_is_retired_not_served(
    run: Run,
    artifacts: LocalArtifactStore,
    sqlite_engine: Engine,
    kind: str,
    trained_at: int,
    moved_at: int,
    why: str,
) -> None:
    earlier_run(sqlite_engine, artifacts, kind, trained_at=trained_at, moved_at=moved_at)
    line = next_run(run, artifacts, kind)
    line.start()

    change = run.registry.history(line.key)[-3]  # before the bootstrap's v2
    assert (change.version, change.to_stage, change.actor, change.at) == (
        1, Stage.RETIRED, f"rule:{kind}_canary", START
    )  # fmt: skip
    assert change.reason.startswith(f"left in CANARY by an earlier run, {why}")
    assert change.reason.endswith(": serving it would look ahead")
    assert {by for _s, _t, by in line.decided_by(200)} == {FALLBACK}
    assert shadow_version(line) == 2 and line.owner.held is None  # the bootstrap's, not held
    c = line.counters()
    assert c[f"{kind}_canary_looked_ahead"] == 1 and c[f"{kind}_canary_retired"] == 1
    assert f"{kind}_canary_resumed" not in c and f"{kind}_canary_share_ppm" not in c
    assert line.owner.canary is not None and line.owner.canary.moves[0].startswith("v1 RETIRED")


def test_a_canary_whose_bundle_is_refused_is_retired(
    run: Run, artifacts: LocalArtifactStore, sqlite_engine: Engine, tmp_path: Path
) -> None:
    elsewhere = LocalArtifactStore(tmp_path / "elsewhere")  # not the run's artifact store
    earlier_run(sqlite_engine, elsewhere, "selector", trained_at=START - 9 * DAY,
                moved_at=START - 2 * DAY)  # fmt: skip
    line = next_run(run, artifacts, "selector")
    line.start()

    change = [c for c in run.registry.history(line.key) if c.version == 1][-1]
    assert change.to_stage is Stage.RETIRED and change.actor == "rule:selector_canary"
    assert change.reason.startswith("left in CANARY by an earlier run, broken: ")
    assert {by for _s, _t, by in line.decided_by(100)} == {FALLBACK}
    assert "selector_canary_resumed" not in line.counters()


@pytest.mark.parametrize("kind", ["selector", "sizer"])
def test_without_a_canary_in_the_registry_nothing_is_written(
    run: Run, artifacts: LocalArtifactStore, kind: str
) -> None:
    line = next_run(run, artifacts, kind)  # a fresh home: make run's case
    line.start()

    assert shadow_version(line) == 1 and line.owner.held is None  # the bootstrap's first
    assert {by for _s, _t, by in line.decided_by(100)} == {FALLBACK}
    assert not [n for n in line.counters() if n.startswith(f"{kind}_canary_")]
    assert {c.actor for c in run.registry.history(line.key)} == {"rl_v3_training", "rl"}
    run.candles(5)
    assert line.owner.canary is not None and line.owner.canary.serving is None
