"""Exported policy bundles: the ONNX policy acts as the stable-baselines3 policy it came from,
the same seed gives the same bundle address, and serving one never imports torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

import quantum_trader
from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import VEC_NORMALIZE, load_bundle
from quantum_trader.rl.export import ONNX_OPSET, ExportedPolicy, export_policy
from quantum_trader.strategy.selector import STRATEGY_NAMES
from tests.rl.toy import OBS_SIZE, export, provenance, sample_observations, train

SEED = 7


@pytest.fixture(scope="module")
def trained() -> tuple[PPO | MaskablePPO, VecNormalize]:
    return train(SEED)


@pytest.fixture(scope="module")
def bundle(
    trained: tuple[PPO | MaskablePPO, VecNormalize], tmp_path_factory: pytest.TempPathFactory
) -> tuple[LocalArtifactStore, ExportedPolicy]:
    model, venv = trained
    return export(model, venv, tmp_path_factory.mktemp("bundles"), SEED)


def _sb3_reference(
    model: PPO | MaskablePPO, venv: VecNormalize | None, raw: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """stable-baselines3's own probabilities and greedy actions for raw observations."""
    obs = venv.normalize_obs(raw) if venv is not None else raw
    assert isinstance(obs, np.ndarray)
    tensor, _ = model.policy.obs_to_tensor(obs)
    with torch.no_grad():
        probs = model.policy.get_distribution(tensor).distribution.probs.numpy()
    actions, _ = model.predict(obs, deterministic=True)
    return probs.astype(np.float64), np.asarray(actions)


def _assert_same_policy(
    policy: OnnxPolicy, model: PPO | MaskablePPO, venv: VecNormalize | None
) -> None:
    raw = sample_observations(1_000, seed=99)
    want_probs, want_actions = _sb3_reference(model, venv, raw)
    probs = policy.probabilities_batch(raw)
    assert np.abs(probs - want_probs).max() < 1e-5
    actions = np.argmax(probs, axis=1)
    # Two actions within float32 rounding of each other are a tie either runtime may break
    # its own way (on this machine none is broken differently); every other must agree.
    top2 = np.sort(want_probs, axis=1)[:, -2:]
    tied = top2[:, 1] - top2[:, 0] < 1e-6
    assert tied.sum() <= 10
    np.testing.assert_array_equal(actions[~tied], want_actions[~tied])
    chosen = want_probs[np.arange(len(raw)), actions]
    assert np.all(chosen >= want_probs.max(axis=1) - 1e-6)
    assert len(set(want_actions.tolist())) >= 2  # a policy that does not always say the same
    for row, want in zip(raw[:50], want_probs[:50], strict=True):  # the one-row serving path
        assert np.abs(policy.probabilities(row) - want).max() < 1e-5


def test_onnx_policy_acts_as_the_ppo_policy_on_1000_observations(
    trained: tuple[PPO | MaskablePPO, VecNormalize],
    bundle: tuple[LocalArtifactStore, ExportedPolicy],
) -> None:
    model, venv = trained
    store, exported = bundle
    policy = OnnxPolicy(load_bundle(store, exported.digest))
    raw = sample_observations(200, seed=5)
    normalised = venv.normalize_obs(raw)
    assert isinstance(normalised, np.ndarray)
    np.testing.assert_array_equal(policy.normalise(raw), normalised)  # bit for bit
    assert np.abs(normalised - raw).max() > 1.0  # the statistics matter to this policy
    _assert_same_policy(policy, model, venv)


def test_onnx_policy_acts_as_the_maskable_ppo_policy(tmp_path: Path) -> None:
    model, _ = train(SEED, 128, maskable=True)
    store, exported = export(model, None, tmp_path, SEED)  # identity normalisation
    assert exported.manifest.algorithm == "MaskablePPO"
    assert exported.manifest.normalisation.kind == "identity"
    _assert_same_policy(OnnxPolicy(load_bundle(store, exported.digest)), model, None)


def test_the_manifest_records_how_the_policy_was_made(
    trained: tuple[PPO | MaskablePPO, VecNormalize],
    bundle: tuple[LocalArtifactStore, ExportedPolicy],
) -> None:
    _, venv = trained
    store, exported = bundle
    manifest = load_bundle(store, exported.digest).manifest
    assert manifest == exported.manifest
    made = provenance(SEED)
    assert (manifest.name, manifest.scope, manifest.algorithm) == ("ppo_selector", "global", "PPO")
    assert manifest.actions == STRATEGY_NAMES
    assert (manifest.observation_size, manifest.opset) == (OBS_SIZE, ONNX_OPSET)
    assert (manifest.observation_version, manifest.env_version) == ("toy-obs-1", "toy-env-1")
    assert (manifest.reward_version, manifest.feature_version) == ("toy-reward-1", "toy-features-1")
    assert (manifest.data_window, manifest.seed, manifest.trial_id) == (
        made.data_window,
        SEED,
        made.trial_id,
    )
    norm = manifest.normalisation
    assert norm.kind == VEC_NORMALIZE
    np.testing.assert_array_equal(norm.mean, venv.obs_rms.mean)  # type: ignore[union-attr]
    np.testing.assert_array_equal(norm.var, venv.obs_rms.var)  # type: ignore[union-attr]
    assert (norm.clip, norm.epsilon) == (venv.clip_obs, venv.epsilon)


def test_same_seed_gives_a_byte_identical_bundle(
    bundle: tuple[LocalArtifactStore, ExportedPolicy], tmp_path: Path
) -> None:
    _, first = bundle
    model, venv = train(SEED)
    _, again = export(model, venv, tmp_path / "again", SEED)
    assert again.digest == first.digest
    model, venv = train(SEED + 1)
    _, other = export(model, venv, tmp_path / "other", SEED + 1)
    assert other.manifest.onnx_sha256 != first.manifest.onnx_sha256  # other weights


def test_export_refuses_what_it_cannot_serve(
    trained: tuple[PPO | MaskablePPO, VecNormalize], tmp_path: Path
) -> None:
    model, _ = trained
    store = LocalArtifactStore(tmp_path)
    with pytest.raises(ValueError, match=r"3 action names .* for 4 actions"):
        export_policy(model, provenance(SEED), store, action_names=STRATEGY_NAMES[:3])
    box = PPO("MlpPolicy", gym.make("Pendulum-v1"), n_steps=64, device="cpu")
    with pytest.raises(ValueError, match="want Discrete"):
        export_policy(box, provenance(SEED), store, action_names=("a",))


SERVE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from quantum_trader.adapters.artifacts import LocalArtifactStore
    from quantum_trader.agents.onnx_policy import OnnxPolicy
    from quantum_trader.agents.policy_bundle import load_bundle
    from quantum_trader.agents.policy_selector import PolicySelector
    from quantum_trader.clock.clock import SimulatedClock
    from quantum_trader.domain.policy import RiskMode
    from quantum_trader.learning.policies import load_policy
    from quantum_trader.status.registry import StatusRegistry
    from quantum_trader.strategy.selector import SelectionContext

    root, digest, raw_path = sys.argv[1:4]
    raw = np.load(raw_path)
    policy = OnnxPolicy(load_bundle(LocalArtifactStore(root), digest))
    handle = StatusRegistry(SimulatedClock(0)).register("rl_meta_strategy", enabled=True, reason="t")
    selector = PolicySelector(policy, lambda c: raw[c.time], handle=handle)
    chosen = [
        selector.select(SelectionContext("BTCUSDT", i, None, None, 0.5, 0.5, 0.0, RiskMode.MODERATE)).strategy
        for i in range(len(raw))
    ]
    print(json.dumps({
        "chosen": chosen,
        "counters": handle.status.counters,
        "loaded": sorted(m for m in ("torch", "stable_baselines3", "sb3_contrib") if m in sys.modules),
    }))
    """
)


def test_serving_a_bundle_never_imports_torch(
    trained: tuple[PPO | MaskablePPO, VecNormalize],
    bundle: tuple[LocalArtifactStore, ExportedPolicy],
    tmp_path: Path,
) -> None:
    model, venv = trained
    store, exported = bundle
    raw = sample_observations(100, seed=3)
    np.save(tmp_path / "raw.npy", raw)
    src = str(Path(quantum_trader.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src}
    result = subprocess.run(
        [sys.executable, "-c", SERVE, str(store.root), exported.digest, str(tmp_path / "raw.npy")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    served = json.loads(result.stdout)
    assert served["loaded"] == []  # neither torch nor stable-baselines3 in the serving process
    assert served["counters"]["decided_by_policy"] == 100
    want_probs, want_actions = _sb3_reference(model, venv, raw)
    chosen = np.array([STRATEGY_NAMES.index(s) for s in served["chosen"]])
    assert np.all(want_probs[np.arange(len(raw)), chosen] >= want_probs.max(axis=1) - 1e-6)
    assert (chosen == want_actions).mean() >= 0.99  # the policy's own choices (ties aside)
