"""The PPO selector line's canary (``rl/selector_canary.py``, wired by
``app/rl_agents.attach_selector_canary``): a policy that wins its candidate experiment enters
CANARY through the registry (``app/policy_candidates.py``'s promoter, wired by
``app/ab_testing.attach_candidates``), production's selector hands it its share of the
decisions, and the line's shadow-pair evidence steps it on to PRODUCTION or retires it.

The line is wired as ``tests/app/test_ab_candidates.py`` wires it (the agents' real
``on_serving``, module 18's candidate experiments), with a real registry and experiment store,
two portfolios standing for the pair (``tests/app/test_ab_sizer_candidates.Run`` writes their
equity) and real ONNX selector policies, so that production's policy selector makes real
decisions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.agents.observation import SELECTOR_OBSERVATION_SIZE, selector_observation
from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import load_bundle
from quantum_trader.agents.policy_selector import (
    CANARY,
    FALLBACK,
    POLICY,
    PolicyDecision,
    PolicySelector,
)
from quantum_trader.app.ab_testing import MODULE, _registry_promoter, attach_candidates
from quantum_trader.app.rl_agents import RLAgents, attach_selector_canary
from quantum_trader.clock import SimulatedClock
from quantum_trader.domain.policy import RiskMode
from quantum_trader.experiments.records import ExperimentStatus
from quantum_trader.experiments.spec import MIN_SAMPLES
from quantum_trader.learning.policies import policy_key, register_policy
from quantum_trader.learning.registry import ModelRegistry, Stage
from quantum_trader.rl.selector_canary import ACTOR
from quantum_trader.rl.sizer_canary import canary_draw
from quantum_trader.status.registry import StatusRegistry
from quantum_trader.strategy.regime import Regime
from quantum_trader.strategy.selector import (
    STRATEGY_NAMES,
    TREND_FOLLOWING,
    RegimeRuleSelector,
    SelectionContext,
)
from tests.agents.bundles import store_linear_bundle
from tests.app.test_ab_sizer_candidates import HOUR, START, Run

SEED = 5  # the run's
KEY = policy_key("global")
PREFIX = "ppo_selector.global.h0@v"
CHOSEN = STRATEGY_NAMES.index(TREND_FOLLOWING)  # what the test policies always select
REGIMES = (Regime.BULL, Regime.BEAR, Regime.SIDEWAYS, Regime.VOLATILE)


@pytest.fixture
def run(sqlite_engine: Engine, tmp_path: Path) -> Run:
    clock = SimulatedClock(START)
    return Run(ModelRegistry(SqlRegistryRepository(sqlite_engine), clock), tmp_path, clock)


@pytest.fixture
def store(sqlite_engine: Engine) -> SqlExperimentStore:
    return SqlExperimentStore(sqlite_engine)


def attach(run: Run, store: SqlExperimentStore) -> tuple[RLAgents, StatusRegistry, list[Any]]:
    """The selector line as ``attach_rl_agents`` and module 18 wire it: production's policy
    selector (the rules behind it), the shadow account's, the line's canary rule and its
    candidate experiments; the decisions production's selector made."""
    status = StatusRegistry(run.clock)
    pair = SimpleNamespace(twin=SimpleNamespace(portfolio=run.twin),
                           challenger=SimpleNamespace(portfolio=run.challenger))  # fmt: skip
    decisions: list[PolicyDecision] = []
    meta = status.register("rl_meta_strategy", enabled=True, reason="test")
    agents = RLAgents(
        PolicySelector(None, selector_observation, handle=meta, on_decision=decisions.append),
        PolicySelector(None, selector_observation, name="ppo_selector_shadow"),
        cast(Any, SimpleNamespace(key=KEY, registry=run.registry)),
        meta,
        trading=cast(Any, SimpleNamespace(active={"selector:ppo_selector_shadow": pair})),
    )
    attach_selector_canary(agents, run.twin, run.challenger,
                           lambda handler, _skipper: run.followers.append(handler), seed=SEED,
                           control="regime_rules")  # fmt: skip
    rt = SimpleNamespace(clock=run.clock, settings=SimpleNamespace(selector="regime_rules",
                                                                   seed=SEED))  # fmt: skip
    session = SimpleNamespace(follow=run.followers.append)
    lifecycle = SimpleNamespace(start=run.components.append)
    handle = status.register(MODULE, enabled=True, reason="test")
    assert attach_candidates(cast(Any, rt), cast(Any, session), cast(Any, lifecycle), agents,
                             store, handle) is not None  # fmt: skip
    return agents, status, decisions


def land(run: Run, agents: RLAgents, n: int, *, broken: bool = False) -> OnnxPolicy:
    """The daemon's SHADOW landing of version ``n``: a real policy that always selects trend
    following (``broken``: its network gives NaN)."""
    weights = np.zeros((SELECTOR_OBSERVATION_SIZE, len(STRATEGY_NAMES)), dtype=np.float32)
    bias = np.zeros(len(STRATEGY_NAMES), dtype=np.float32)
    bias[CHOSEN] = 20.0
    if broken:
        weights[:, 0] = np.nan
    store, digest = store_linear_bundle(run.root / f"v{n}", weights, bias)
    bundle = load_bundle(store, digest)
    manifest = replace(bundle.manifest, name="ppo_selector", scope="global")
    done = register_policy(run.registry, digest, manifest, actor="rl_v3_training", reason="trial")
    assert done.version == n
    for older in run.registry.versions(KEY):
        if older.stage is Stage.SHADOW:
            run.registry.retire(KEY, older.version, actor="rl", reason="shadows")
    run.registry.promote(KEY, n, actor="rl_v3_training", reason="trial", to=Stage.SHADOW)
    policy = OnnxPolicy(bundle, registry_version=n)
    agents.on_serving(Stage.SHADOW, policy)
    return policy


def to_canary(
    run: Run, store: SqlExperimentStore, **options: bool
) -> tuple[RLAgents, StatusRegistry, list[PolicyDecision], OnnxPolicy]:
    """v1 lands, wins its candidate experiment and enters CANARY (the registry's normal path)."""
    agents, status, decisions = attach(run, store)
    policy = land(run, agents, 1, **options)
    select(agents.production, 40, START)  # in SHADOW it serves nothing, and writes nothing
    assert {d.decided_by for d in decisions} == {FALLBACK}
    assert not [c for c in meta(status) if c.startswith("selector_canary_")]
    decisions.clear()
    run.edge = 0.0010  # its selection adds 10 bp a candle in the shadow pair
    run.candles(MIN_SAMPLES + 20)
    assert store.status(f"{PREFIX}1") is ExperimentStatus.CONCLUDED
    assert run.registry.get(KEY, 1).stage is Stage.CANARY
    promotion = run.registry.history(KEY)[-1]
    assert promotion.actor == f"{MODULE}:{PREFIX}1" and promotion.to_stage is Stage.CANARY
    return agents, status, decisions, policy


def context(symbol: str, time: int) -> SelectionContext:
    i = time // HOUR
    return SelectionContext(symbol, time, REGIMES[i % 4], None, (i % 10) / 10, 0.6, 0.0,
                            RiskMode.MODERATE, equity=1_000.0)  # fmt: skip


def select(selector: PolicySelector, n: int, at: int) -> list[tuple[str, int, str, str]]:
    """``n`` decisions (two symbols, hourly) by production's selector: (symbol, time, who
    decided, the selector the choice names)."""
    out = []
    for i in range(n):
        symbol, time = ("BTCUSDT", "ETHUSDT")[i % 2], at + (i // 2) * HOUR
        choice = selector.select(context(symbol, time))
        assert selector.last_decision is not None
        out.append((symbol, time, selector.last_decision.decided_by, choice.selector))
    return out


def meta(status: StatusRegistry) -> dict[str, int]:
    return status.get("rl_meta_strategy").status.counters


def test_a_canary_selects_its_share_of_decisions_and_no_others(
    run: Run, store: SqlExperimentStore
) -> None:
    agents, status, decisions, policy = to_canary(run, store)
    made = select(agents.production, 800, START)

    canary = [(s, t) for s, t, by, _ in made if by == CANARY]
    expected = [(s, t) for s, t, _, _ in made if canary_draw(SEED, s, t) < 0.25]
    assert canary == expected  # exactly the decisions the stable hash gives it
    assert 160 <= len(canary) <= 240  # about its 25 % share of 800
    rules = RegimeRuleSelector()
    for d in decisions:  # each records the version that selected it; the others are the rules'
        if d.decided_by == CANARY:
            assert (d.policy_version, d.strategy) == (policy.version, TREND_FOLLOWING)
        else:
            choice = rules.select(context(d.symbol, d.time))
            assert (d.decided_by, d.strategy, d.policy_version) == (
                FALLBACK, choice.strategy, choice.selector
            )  # fmt: skip
    assert {(by, named) for _s, _t, by, named in made} == {
        (CANARY, policy.version),
        (FALLBACK, rules.name),
    }
    counters = meta(status)
    assert counters["selector_canary_share_ppm"] == 250_000
    assert counters["selector_canary_version"] == 1
    assert counters["decided_by_canary"] == counters["selector_canary_decisions"] == len(canary)

    # a replay of the same decisions (same seed) hands the canary the same ones
    again = select(agents.production, 800, START)
    assert [by for *_, by, _n in again] == [by for *_, by, _n in made]
    assert {canary_draw(SEED + 1, s, t) < 0.25 for s, t in canary} == {True, False}


def test_a_winning_canary_steps_and_reaches_production(run: Run, store: SqlExperimentStore) -> None:
    agents, status, _, policy = to_canary(run, store)
    run.candles(MIN_SAMPLES // 2)
    land(run, agents, 2)  # the daemon's next landing waits: the shadow account is the canary's
    assert agents.shadow is not None and agents.shadow.policy is policy
    assert store.names() == [f"{PREFIX}1"]

    run.candles(MIN_SAMPLES // 2 + 5)  # the first step's test concludes: 25 % → 50 %
    assert run.registry.canary_steps(KEY, 1) == 1
    assert meta(status)["selector_canary_share_ppm"] == 500_000
    made = select(agents.production, 800, run.clock.now())
    share = sum(by == CANARY for _s, _t, by, _n in made) / len(made)
    assert 0.45 <= share <= 0.55
    run.candles(MIN_SAMPLES + 5)  # the second step's: PRODUCTION

    assert run.registry.get(KEY, 1).stage is Stage.PRODUCTION
    moves = [c for c in run.registry.history(KEY) if c.actor == ACTOR]
    assert [(c.version, c.to_stage, c.action.value) for c in moves] == [
        (1, Stage.CANARY, "CANARY_STEP"),
        (1, Stage.PRODUCTION, "PROMOTE"),
    ]
    assert all(c.reason.startswith("better than regime_rules: ") for c in moves)
    assert agents.production.policy is policy  # production's selector serves it now
    made = select(agents.production, 40, run.clock.now())
    assert {(by, named) for _s, _t, by, named in made} == {(POLICY, "ppo_selector")}
    counters = meta(status)
    assert counters["selector_canary_steps"] == 1 and counters["selector_canary_promoted"] == 1
    assert counters["selector_canary_share_ppm"] == 0 and "selector_canary_retired" not in counters
    # the landing that waited is served in the shadow account now, with its experiment
    assert agents.shadow.policy is not None and agents.shadow.policy.registry_version == 2
    assert store.names() == [f"{PREFIX}1", f"{PREFIX}2"]
    assert counters["shadow_landings_held"] == 1


def test_a_losing_canary_is_retired_and_production_decides_again(
    run: Run, store: SqlExperimentStore
) -> None:
    agents, status, _, _ = to_canary(run, store)
    made = select(agents.production, 40, run.clock.now())
    assert {by for _s, _t, by, _n in made} == {CANARY, FALLBACK}  # the canary serves
    run.edge = -0.0010  # in CANARY its selection loses 10 bp a candle
    run.candles(MIN_SAMPLES + 5)

    assert run.registry.get(KEY, 1).stage is Stage.RETIRED
    change = run.registry.history(KEY)[-1]
    assert change.actor == ACTOR and change.reason.startswith("worse than regime_rules: ")
    assert "at share 25%" in change.reason
    assert run.registry.production(KEY) is None and agents.production.policy is None
    made = select(agents.production, 200, run.clock.now())
    assert {by for _s, _t, by, _n in made} == {FALLBACK}  # production decides 100 % again
    counters = meta(status)
    assert counters["selector_canary_retired"] == 1 and counters["selector_canary_share_ppm"] == 0


def test_a_broken_canary_is_retired_at_the_next_candle(run: Run, store: SqlExperimentStore) -> None:
    agents, status, _, _ = to_canary(run, store, broken=True)
    made = select(agents.production, 20, run.clock.now())
    assert {by for _s, _t, by, _n in made} == {FALLBACK}  # production made its decisions
    assert meta(status)["selector_canary_broken"] == 1
    run.candle()

    assert run.registry.get(KEY, 1).stage is Stage.RETIRED
    change = run.registry.history(KEY)[-1]
    assert change.actor == ACTOR and change.reason.startswith("broken: non-finite probabilities")
    assert meta(status)["selector_canary_retired"] == 1


def test_a_production_change_under_the_canary_retires_it(
    run: Run, store: SqlExperimentStore
) -> None:
    agents, status, _, _ = to_canary(run, store)
    land(run, agents, 2)  # held: the shadow account is the canary's
    run.registry.promote(KEY, 2, actor="rl_v3_training", reason="beats", to=Stage.PRODUCTION)
    run.candle()

    assert run.registry.get(KEY, 1).stage is Stage.RETIRED
    change = [c for c in run.registry.history(KEY) if c.version == 1][-1]
    assert change.actor == ACTOR and "production changed to v2" in change.reason
    assert meta(status)["selector_canary_retired"] == 1
    assert agents.held is None  # released: v2 left SHADOW, so nothing is served from it


def test_a_winner_of_the_runs_own_experiment_is_served_as_a_canary(
    run: Run, store: SqlExperimentStore
) -> None:
    agents, status, _ = attach(run, store)
    policy = land(run, agents, 1)
    promote = _registry_promoter(agents, run.registry)  # the run's own experiment's promoter
    spec = SimpleNamespace(name="ppo_vs_qlearning@0123456789ab")
    result = SimpleNamespace(arm="ppo", summary=lambda: "CONCLUDED: ppo after 400 candles")
    audit = promote(cast(Any, spec), cast(Any, result))

    assert audit == f"{KEY} v1 promoted to CANARY"
    assert run.registry.get(KEY, 1).stage is Stage.CANARY
    made = select(agents.production, 400, run.clock.now())
    assert {(by, named) for _s, _t, by, named in made} == {
        (CANARY, policy.version),
        (FALLBACK, "regime_rules"),
    }
    assert meta(status)["selector_canary_share_ppm"] == 250_000
