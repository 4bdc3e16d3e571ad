"""Module 15 in production's decision path: a refused PRODUCTION sizing policy is served by
the line's production policy before it (DEGRADED, the refusal named), else the base sizer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.agents.policy_bundle import ONNX_FILE, load_bundle
from quantum_trader.agents.rl_sizer import FRACTION_ACTIONS, RLSizer
from quantum_trader.agents.sizing_observation import SIZING_OBSERVATION_SIZE
from quantum_trader.app.rl_serving import SIZER_POLICY, SIZING_MODULE, production_sizer
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.config.settings import load_settings
from quantum_trader.learning.policies import policy_key, register_policy
from quantum_trader.learning.registry import ModelRegistry, Stage
from quantum_trader.status.registry import ModuleState, StatusRegistry
from quantum_trader.strategy.sizing import FixedFractionalSizer
from tests.agents.bundles import random_linear, store_linear_bundle


def _line(engine: Engine, root: Path) -> tuple[ModelRegistry, LocalArtifactStore, list[str]]:
    """rl_sizer/global/h0 v1 then v2 in PRODUCTION (v2 serves, v1 restorable)."""
    registry = ModelRegistry(SqlRegistryRepository(engine), SimulatedClock(1_000))
    digests = []
    for n in (1, 2):
        weights, bias = random_linear(n, SIZING_OBSERVATION_SIZE, len(FRACTION_ACTIONS))
        store, digest = store_linear_bundle(root, weights, bias, actions=FRACTION_ACTIONS)
        manifest = replace(load_bundle(store, digest).manifest, name=SIZER_POLICY, scope="global")
        register_policy(registry, digest, manifest, actor="rl_v3_training", reason="trial")
        key = policy_key("global", SIZER_POLICY)
        registry.promote(key, n, actor="rule:gate", reason="beats", to=Stage.PRODUCTION)
        digests.append(digest)
    return registry, store, digests


def _serve(registry: ModelRegistry, store: LocalArtifactStore) -> tuple[RLSizer, StatusRegistry]:
    status = StatusRegistry(SimulatedClock(0))
    handle = status.register(SIZING_MODULE, enabled=True, reason="test")
    sizer = production_sizer(
        load_settings(rl_sizing_enabled=True), FixedFractionalSizer(), handle, registry, store
    )
    assert isinstance(sizer, RLSizer)
    return sizer, status


def test_a_refused_sizing_policy_is_served_by_the_one_before_it(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    registry, store, digests = _line(sqlite_engine, tmp_path)
    sizer, status = _serve(registry, store)
    assert sizer.policy is not None and sizer.policy.registry_version == 2
    assert status.get(SIZING_MODULE).status.state is not ModuleState.DEGRADED

    onnx = store.path(digests[1]) / ONNX_FILE
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    sizer, status = _serve(registry, store)
    assert sizer.policy is not None and sizer.policy.registry_version == 1
    module = status.get(SIZING_MODULE).status
    assert module.state is ModuleState.DEGRADED
    assert "rl_sizer/global/h0 v2" in module.reason and "v1 (before it) sizes" in module.reason

    onnx = store.path(digests[0]) / ONNX_FILE
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    sizer, status = _serve(registry, store)
    assert sizer.policy is None  # none left: the base sizer sizes, and status says why
    module = status.get(SIZING_MODULE).status
    assert module.state is ModuleState.DEGRADED and "fixed_fractional sizes" in module.reason
