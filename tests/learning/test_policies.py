"""RL policies in the model registry: a bundle registered as a policy line, promoted through the
stages, served by stage, rolled back; a tampered production bundle is refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.agents.policy_bundle import ONNX_FILE, PolicyBundleError, load_bundle
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.learning.lineage import POLICY_KIND
from quantum_trader.learning.policies import (
    load_policy,
    policy_key,
    register_policy,
    serving_policy,
)
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


def _production_line(
    engine: Engine, tmp_path: Path, sizes: tuple[int, ...], scope: str = "BTCUSDT"
) -> tuple[ModelRegistry, LocalArtifactStore, list[str]]:
    """Versions 1.. of ppo_selector/<scope>/h0 with observation ``sizes``, each promoted to
    PRODUCTION in turn (the last one serves; the others are restorable)."""
    registry = ModelRegistry(SqlRegistryRepository(engine), SimulatedClock(1_000))
    key, digests = policy_key(scope), []
    for n, size in enumerate(sizes, start=1):
        store, digest = store_linear_bundle(tmp_path, *random_linear(n, size=size))
        manifest = replace(load_bundle(store, digest).manifest, scope=scope)
        register_policy(registry, digest, manifest, actor="rl_v3_training", reason="trial")
        registry.promote(key, n, actor="rule:gate", reason="beats", to=Stage.PRODUCTION)
        digests.append(digest)
    return registry, store, digests


def _damage(store: LocalArtifactStore, digest: str) -> None:
    onnx = store.path(digest) / ONNX_FILE
    onnx.write_bytes(onnx.read_bytes() + b"\0")


def test_a_refused_production_policy_is_served_by_the_one_before_it(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    registry, store, digests = _production_line(sqlite_engine, tmp_path, (SIZE, SIZE, SIZE))
    production = registry.production(policy_key("BTCUSDT"))
    assert production is not None and production.version == 3
    assert serving_policy(registry, store, production).refused is None

    _damage(store, digests[2])
    served = serving_policy(registry, store, production)
    assert served.policy is not None and served.policy.version == "ppo_selector@2"
    assert served.refused == 3 and f"{ONNX_FILE}: sha256" in served.refusal

    _damage(store, digests[1])  # the one before is damaged too: further back
    served = serving_policy(registry, store, production)
    assert served.policy is not None and served.policy.version == "ppo_selector@1"

    _damage(store, digests[0])  # none left: nothing serves, the refusal is kept
    served = serving_policy(registry, store, production)
    assert (served.policy, served.version, served.refused) == (None, None, 3)


def test_a_policy_of_another_observation_or_rolled_back_never_serves_in_place(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    registry, store, digests = _production_line(sqlite_engine, tmp_path, (SIZE, SIZE + 2, SIZE))
    production = registry.production(policy_key("BTCUSDT"))
    assert production is not None
    _damage(store, digests[2])
    served = serving_policy(registry, store, production)  # v2 reads another observation
    assert served.policy is not None and served.policy.version == "ppo_selector@1"

    registry, store, digests = _production_line(
        sqlite_engine, tmp_path / "b", (SIZE,) * 3, scope="ETHUSDT"
    )
    key = policy_key("ETHUSDT")
    registry.rollback(key, actor="cli:ops", reason="v3 worse live")  # v3 rolled back: v2 serves
    production = registry.production(key)
    assert production is not None and production.version == 2
    _damage(store, digests[1])
    served = serving_policy(registry, store, production)
    assert served.policy is not None and served.policy.version == "ppo_selector@1"
    assert served.refused == 2
