"""Hand-built policy bundles for the serving tests: a linear softmax policy written with onnx's
helper (no torch), so that every probability it serves has a numpy reference."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.agents.policy_bundle import (
    IDENTITY,
    VEC_NORMALIZE,
    Normalisation,
    PolicyManifest,
    write_bundle,
)
from quantum_trader.domain.digests import sha256_bytes
from quantum_trader.strategy.selector import STRATEGY_NAMES

SIZE = 6


def linear_policy_onnx(weights: npt.NDArray[np.float32], bias: npt.NDArray[np.float32]) -> bytes:
    """obs [batch, size] → logits = obs @ W + b, probs = softmax(logits)."""
    size, n_actions = weights.shape
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["obs", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
        ],
        "linear_policy",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", size])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_actions]),
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", n_actions]),
        ],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def manifest_for(
    onnx_bytes: bytes,
    *,
    size: int = SIZE,
    actions: Sequence[str] = STRATEGY_NAMES,
    normalisation: Normalisation | None = None,
    seed: int = 1,
) -> PolicyManifest:
    return PolicyManifest(
        name="ppo_selector",
        scope="BTCUSDT",
        algorithm="PPO",
        actions=tuple(actions),
        observation_size=size,
        observation_version="test-obs-1",
        env_version="test-env-1",
        reward_version="test-reward-1",
        feature_version="test-features-1",
        data_window=(0, 3_600_000),
        seed=seed,
        trial_id="trial-test",
        normalisation=normalisation or Normalisation(IDENTITY),
        onnx_sha256=sha256_bytes(onnx_bytes),
        opset=17,
    )


def scaling(size: int = SIZE) -> Normalisation:
    """VecNormalize-like statistics with distinct means and variances per dimension."""
    return Normalisation(
        VEC_NORMALIZE,
        tuple(float(i) - 2.0 for i in range(size)),
        tuple(0.5 + float(i) for i in range(size)),
        3.0,
        1e-8,
    )


def store_linear_bundle(
    root: Path,
    weights: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32],
    *,
    normalisation: Normalisation | None = None,
    actions: Sequence[str] = STRATEGY_NAMES,
) -> tuple[LocalArtifactStore, str]:
    store = LocalArtifactStore(root)
    onnx_bytes = linear_policy_onnx(weights, bias)
    manifest = manifest_for(
        onnx_bytes, size=weights.shape[0], actions=actions, normalisation=normalisation
    )
    digest = store.put(lambda folder: write_bundle(folder, manifest, onnx_bytes))
    return store, digest


def random_linear(
    seed: int, size: int = SIZE, n_actions: int = 4
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(size, n_actions)).astype(np.float32)
    bias = rng.normal(size=n_actions).astype(np.float32)
    return weights, bias
