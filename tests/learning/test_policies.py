"""RL policies in the model registry: a bundle registered as a policy line, promoted through the
stages, served by stage, rolled back; a tampered production bundle is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.agents.policy_bundle import ONNX_FILE, PolicyBundleError, load_bundle
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.learning.lineage import POLICY_KIND
from quantum_trader.learning.policies import load_policy, policy_key, register_policy
from quantum_trader.learning.registry import ModelRegistry, Stage
from tests.agents.bundles import SIZE, random_linear, scaling, store_linear_bundle


def test_a_policy_takes_the_registry_stages_and_rolls_back(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    clock = SimulatedClock(1_000)
    registry = ModelRegistry(SqlRegistryRepository(sqlite_engine), clock)
    store, first = store_linear_bundle(tmp_path, *random_linear(1), normalisation=scaling())
    _, second = store_linear_bundle(tmp_path, *random_linear(2))
    key = policy_key("BTCUSDT")
    assert str(key) == "ppo_selector/BTCUSDT/h0"

    for digest in (first, second):
        manifest = load_bundle(store, digest).manifest
        version = register_policy(
            registry, digest, manifest, actor="rl_v3_training", reason="trial", trained_at=900
        )
        assert (version.key, version.stage, version.artifact_hash) == (
            key,
            Stage.CANDIDATE,
            digest,
        )
        lineage = registry.get(key, version.version).lineage  # as stored and read back
        assert (lineage.kind, lineage.window, lineage.trained_at) == (
            POLICY_KIND,
            (0, 3_600_000),
            900,
        )
        assert lineage.detail["trial_id"] == "trial-test"
        assert lineage.detail["observation_version"] == "test-obs-1"
        assert lineage.parameters["seed"] == 1
        with pytest.raises(TypeError, match="'policy' has no model metadata"):
            _ = version.metadata

    assert load_policy(registry, store, key) is None  # nothing in PRODUCTION yet
    candidate = load_policy(registry, store, key, stage=Stage.CANDIDATE)
    assert candidate is not None and candidate.version == "ppo_selector@2"

    for stage in (Stage.SHADOW, Stage.CANARY, Stage.PRODUCTION):
        registry.promote(key, 1, actor="rule:gate", reason="beats rules", to=stage)
    registry.promote(key, 2, actor="rule:gate", reason="beats v1", to=Stage.PRODUCTION)
    served = load_policy(registry, store, key)
    assert served is not None and (served.version, served.bundle_hash) == ("ppo_selector@2", second)
    registry.rollback(key, actor="cli:ops", reason="worse live")
    served = load_policy(registry, store, key)
    assert served is not None and served.version == "ppo_selector@1"
    assert served.probabilities(np.zeros(SIZE)).shape == (4,)

    onnx = store.path(first) / ONNX_FILE
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    with pytest.raises(PolicyBundleError, match=f"{ONNX_FILE}: sha256"):
        load_policy(registry, store, key)
