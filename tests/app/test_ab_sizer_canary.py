"""The RL sizer line's canary (``rl/sizer_canary.py``, wired by
``app/rl_sizing.attach_sizer_canary``): a policy that wins its candidate experiment enters
CANARY through the registry, production's sizer hands it its share of the entries, and the
line's shadow-pair evidence steps it on to PRODUCTION or retires it.

The line is wired as ``tests/app/test_ab_sizer_candidates.py`` wires it (the sizer line's real
``on_serving``, a real registry and experiment store, two portfolios standing for the pair),
with real ONNX sizing policies so that production's RL sizer sizes real entries."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import load_bundle
from quantum_trader.agents.rl_sizer import CANARY, FALLBACK, FRACTION_ACTIONS, RLSizer
from quantum_trader.agents.sizing_observation import SIZING_OBSERVATION_SIZE
from quantum_trader.app.rl_serving import SIZER_POLICY
from quantum_trader.clock import SimulatedClock
from quantum_trader.experiments.records import ExperimentStatus
from quantum_trader.experiments.spec import MIN_SAMPLES
from quantum_trader.learning.policies import register_policy
from quantum_trader.learning.registry import ModelRegistry, Stage
from quantum_trader.rl.sizer_canary import ACTOR, canary_draw
from quantum_trader.status.registry import StatusRegistry
from quantum_trader.strategy.sizing import FixedFractionalSizer
from tests.agents.bundles import store_linear_bundle
from tests.agents.sizing_helpers import entry, request
from tests.app.test_ab_sizer_candidates import HOUR, KEY, PREFIX, START, Run, _attach

SEED = 5  # the run's (``_attach``)
QUARTER = 1  # the fraction level f = 0.25


@pytest.fixture
def run(sqlite_engine: Engine, tmp_path: Path) -> Run:
    clock = SimulatedClock(START)
    return Run(ModelRegistry(SqlRegistryRepository(sqlite_engine), clock), tmp_path, clock)


@pytest.fixture
def store(sqlite_engine: Engine) -> SqlExperimentStore:
    return SqlExperimentStore(sqlite_engine)


def land(run: Run, n: int, *, level: int = QUARTER, broken: bool = False) -> OnnxPolicy:
    """The daemon's SHADOW landing of version ``n``: a real policy that always chooses
    fraction ``level`` (``broken``: its network gives NaN)."""
    weights = np.zeros((SIZING_OBSERVATION_SIZE, len(FRACTION_ACTIONS)), dtype=np.float32)
    bias = np.zeros(len(FRACTION_ACTIONS), dtype=np.float32)
    bias[level] = 20.0
    if broken:
        weights[0, 0] = np.nan
    store, digest = store_linear_bundle(run.root / f"v{n}", weights, bias, actions=FRACTION_ACTIONS)
    bundle = load_bundle(store, digest)
    manifest = replace(bundle.manifest, name=SIZER_POLICY, scope="global")
    done = register_policy(run.registry, digest, manifest, actor="rl_v3_training", reason="trial")
    assert done.version == n
    for older in run.registry.versions(KEY):
        if older.stage is Stage.SHADOW:
            run.registry.retire(KEY, older.version, actor="rl", reason="shadows")
    run.registry.promote(KEY, n, actor="rl_v3_training", reason="trial", to=Stage.SHADOW)
    policy = OnnxPolicy(bundle, registry_version=n)
    assert run.training is not None
    run.training.on_serving(Stage.SHADOW, policy)
    return policy


def to_canary(
    run: Run, store: SqlExperimentStore, **options: bool
) -> tuple[StatusRegistry, OnnxPolicy]:
    """v1 lands, wins its candidate experiment and enters CANARY (the registry's normal path)."""
    status, _ = _attach(run, store, served=None)
    policy = land(run, 1, **options)
    run.edge = 0.0010  # its sizing adds 10 bp a candle in the shadow pair
    run.candles(MIN_SAMPLES + 20)
    assert store.status(f"{PREFIX}1") is ExperimentStatus.CONCLUDED
    assert run.registry.get(KEY, 1).stage is Stage.CANARY
    return status, policy


def size_entries(sizer: RLSizer, n: int, at: int) -> list[tuple[str, int, str, str]]:
    """``n`` entries (two symbols, hourly) sized by production's sizer: (symbol, time, who
    decided, who the decision records)."""
    out = []
    for i in range(n):
        symbol, time = ("BTCUSDT", "ETHUSDT")[i % 2], at + (i // 2) * HOUR
        result = sizer.size(request(entry(100.0, symbol=symbol, time=time)))
        assert sizer.last_decision is not None
        out.append((symbol, time, sizer.last_decision.decided_by, result.sizer))
    return out


def sizing(status: StatusRegistry) -> dict[str, int]:
    return status.get("rl_position_sizing").status.counters


def test_a_canary_sizes_its_share_of_entries_and_no_others(
    run: Run, store: SqlExperimentStore
) -> None:
    status, policy = to_canary(run, store)
    assert run.training is not None
    sized = size_entries(run.training.sizer, 800, START)

    canary = [(s, t) for s, t, by, _ in sized if by == CANARY]
    expected = [(s, t) for s, t, _, _ in sized if canary_draw(SEED, s, t) < 0.25]
    assert canary == expected  # exactly the entries the stable hash gives it
    assert 160 <= len(canary) <= 240  # about its 25 % share of 800
    for _s, _t, by, recorded in sized:  # each entry records who sized it
        assert (by, recorded) in ((CANARY, policy.version), (FALLBACK, "fixed_fractional"))
    base = FixedFractionalSizer().size(request()).quantity
    first = run.training.sizer.size(request(entry(100.0, symbol=canary[0][0], time=canary[0][1])))
    assert first.quantity == pytest.approx(0.25 * base)  # the canary's f = 0.25
    counters = sizing(status)
    assert counters["sizer_canary_share_ppm"] == 250_000
    assert counters["decided_by_canary"] == len(canary) + 1
    assert counters["sizer_canary_entries"] == len(canary) + 1

    # a replay of the same entries (same seed) hands the canary the same ones
    again = size_entries(run.training.sizer, 800, START)
    assert [by for *_, by, _r in again] == [by for *_, by, _r in sized]
    assert {canary_draw(SEED + 1, s, t) < 0.25 for s, t in canary} == {True, False}


def test_a_winning_canary_steps_and_reaches_production(run: Run, store: SqlExperimentStore) -> None:
    status, policy = to_canary(run, store)
    assert run.training is not None
    run.candles(MIN_SAMPLES // 2)
    land(run, 2)  # the daemon's next landing waits: the shadow account is the canary's
    assert run.training.shadow is not None and run.training.shadow.policy is policy
    assert store.names() == [f"{PREFIX}1"]

    run.candles(MIN_SAMPLES // 2 + 5)  # the first step's test concludes: 25 % → 50 %
    assert (
        run.registry.canary_steps(KEY, 1) == 1
        and sizing(status)["sizer_canary_share_ppm"] == 500_000
    )
    run.candles(MIN_SAMPLES + 5)  # the second step's: PRODUCTION

    assert run.registry.get(KEY, 1).stage is Stage.PRODUCTION
    moves = [c for c in run.registry.history(KEY) if c.actor == ACTOR]
    assert [(c.version, c.to_stage, c.action.value) for c in moves] == [
        (1, Stage.CANARY, "CANARY_STEP"),
        (1, Stage.PRODUCTION, "PROMOTE"),
    ]
    assert all(c.reason.startswith("better than fixed_fractional: ") for c in moves)
    assert run.training.sizer.policy is policy  # production's sizer serves it now
    assert run.training.canary is not None and run.training.canary.moves[-1].startswith(
        "v1 to PRODUCTION: better than fixed_fractional"
    )
    sized = size_entries(run.training.sizer, 40, run.clock.now())
    assert {by for _s, _t, by, _r in sized} == {"policy"}
    counters = sizing(status)
    assert counters["sizer_canary_steps"] == 1 and counters["sizer_canary_promoted"] == 1
    assert counters["sizer_canary_share_ppm"] == 0 and "sizer_canary_retired" not in counters
    # the landing that waited is served in the shadow account now, with its experiment
    assert run.training.shadow.policy is not None
    assert run.training.shadow.policy.registry_version == 2
    assert store.names() == [f"{PREFIX}1", f"{PREFIX}2"]
    assert sizing(status)["shadow_landings_held"] == 1


def test_a_losing_canary_is_retired_and_production_sizes_again(
    run: Run, store: SqlExperimentStore
) -> None:
    status, _ = to_canary(run, store)
    assert run.training is not None
    sized = size_entries(run.training.sizer, 40, run.clock.now())
    assert {by for _s, _t, by, _r in sized} == {CANARY, FALLBACK}  # the canary serves
    run.edge = -0.0010  # in CANARY its sizing loses 10 bp a candle
    run.candles(MIN_SAMPLES + 5)

    assert run.registry.get(KEY, 1).stage is Stage.RETIRED
    change = run.registry.history(KEY)[-1]
    assert change.actor == ACTOR and change.reason.startswith("worse than fixed_fractional: ")
    assert "at share 25%" in change.reason
    assert run.registry.production(KEY) is None
    sized = size_entries(run.training.sizer, 200, run.clock.now())
    assert {by for _s, _t, by, _r in sized} == {FALLBACK}  # production sizes 100 % again
    counters = sizing(status)
    assert counters["sizer_canary_retired"] == 1 and counters["sizer_canary_share_ppm"] == 0


def test_a_broken_canary_is_retired_at_the_next_candle(run: Run, store: SqlExperimentStore) -> None:
    status, _ = to_canary(run, store, broken=True)
    assert run.training is not None
    sized = size_entries(run.training.sizer, 20, run.clock.now())
    assert {by for _s, _t, by, _r in sized} == {FALLBACK}  # production sized its entries
    assert sizing(status)["sizer_canary_broken"] == 1
    run.candle()

    assert run.registry.get(KEY, 1).stage is Stage.RETIRED
    change = run.registry.history(KEY)[-1]
    assert change.actor == ACTOR and change.reason.startswith("broken: non-finite probabilities")
    assert sizing(status)["sizer_canary_retired"] == 1


def test_an_operator_move_is_taken_up(run: Run, store: SqlExperimentStore) -> None:
    status, _ = to_canary(run, store)
    assert run.training is not None
    sized = size_entries(run.training.sizer, 40, run.clock.now())
    assert {by for _s, _t, by, _r in sized} == {CANARY, FALLBACK}  # the canary serves
    run.registry.retire(KEY, 1, actor="cli:ops", reason="enough")
    run.candle()
    sized = size_entries(run.training.sizer, 40, run.clock.now())
    assert {by for _s, _t, by, _r in sized} == {FALLBACK}
    assert sizing(status)["sizer_canary_share_ppm"] == 0
    assert "sizer_canary_retired" not in sizing(status)  # the operator's move, not the rule's


def test_a_production_change_under_the_canary_retires_it(
    run: Run, store: SqlExperimentStore
) -> None:
    status, _ = to_canary(run, store)
    assert run.training is not None
    land(run, 2)  # held: the shadow account is the canary's
    run.registry.promote(KEY, 2, actor="rl_v3_training", reason="beats", to=Stage.PRODUCTION)
    run.candle()

    assert run.registry.get(KEY, 1).stage is Stage.RETIRED
    change = [c for c in run.registry.history(KEY) if c.version == 1][-1]
    assert change.actor == ACTOR and "production changed to v2" in change.reason
    assert sizing(status)["sizer_canary_retired"] == 1
    assert run.training.held is None  # released: v2 left SHADOW, so nothing is served from it
