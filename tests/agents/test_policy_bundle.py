"""Policy bundles: what a bundle holds, a tampered one refused naming the file, ONNX serving."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import (
    MANIFEST_FILE,
    ONNX_FILE,
    Normalisation,
    PolicyBundleError,
    PolicyManifest,
    load_bundle,
    write_bundle,
)
from quantum_trader.domain.errors import ArtifactIntegrityError
from tests.agents.bundles import (
    SIZE,
    linear_policy_onnx,
    manifest_for,
    random_linear,
    scaling,
    store_linear_bundle,
)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_manifest_round_trips_through_json() -> None:
    manifest = manifest_for(linear_policy_onnx(*random_linear(0)), normalisation=scaling())
    assert PolicyManifest.from_json(manifest.to_json()) == manifest
    # the manifest's text is a function of its content only: no time, sorted keys
    assert manifest.to_json() == PolicyManifest.from_json(manifest.to_json()).to_json()


def test_loaded_bundle_serves_the_networks_probabilities_after_normalisation(
    tmp_path: Path,
) -> None:
    weights, bias = random_linear(1)
    norm = scaling()
    store, digest = store_linear_bundle(tmp_path, weights, bias, normalisation=norm)
    bundle = load_bundle(store, digest)
    assert bundle.manifest.normalisation == norm
    policy = OnnxPolicy(bundle, registry_version=3)
    assert policy.version == "ppo_selector@3"
    assert OnnxPolicy(bundle).version == f"ppo_selector#{digest[:12]}"

    raw = np.random.default_rng(2).normal(0.0, 4.0, size=(200, SIZE)).astype(np.float32)
    mean, var = np.array(norm.mean), np.array(norm.var)
    expected_input = np.clip((raw - mean) / np.sqrt(var + norm.epsilon), -3.0, 3.0)
    assert np.abs(expected_input).max() == 3.0  # the clip is exercised
    expected = _softmax(expected_input.astype(np.float32).astype(np.float64) @ weights + bias)
    np.testing.assert_allclose(policy.probabilities_batch(raw), expected, atol=1e-6)
    for row, want in zip(raw[:20], expected[:20], strict=True):
        np.testing.assert_allclose(policy.probabilities(row), want, atol=1e-6)


def test_identity_normalisation_feeds_the_raw_observation(tmp_path: Path) -> None:
    weights, bias = random_linear(3)
    store, digest = store_linear_bundle(tmp_path, weights, bias)
    policy = OnnxPolicy(load_bundle(store, digest))
    raw = np.linspace(-1.0, 1.0, SIZE)
    np.testing.assert_allclose(policy.probabilities(raw), _softmax(raw @ weights + bias), atol=1e-6)
    with pytest.raises(ValueError, match=r"shape \(5,\).*takes 6 values"):
        policy.probabilities(np.zeros(SIZE - 1))


def _stored(tmp_path: Path) -> tuple[Path, str]:
    store, digest = store_linear_bundle(tmp_path, *random_linear(4), normalisation=scaling())
    load_bundle(store, digest)  # intact: loads
    return store.path(digest), digest


def _load(folder: Path, digest: str) -> None:
    load_bundle(LocalArtifactStore(folder.parent), digest)


def test_a_changed_onnx_file_is_refused_naming_it(tmp_path: Path) -> None:
    folder, digest = _stored(tmp_path)
    data = bytearray((folder / ONNX_FILE).read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit
    (folder / ONNX_FILE).write_bytes(bytes(data))
    with pytest.raises(PolicyBundleError, match=f"{ONNX_FILE}: sha256 .* altered"):
        _load(folder, digest)


def test_an_edited_manifest_is_refused_naming_it(tmp_path: Path) -> None:
    folder, digest = _stored(tmp_path)
    raw = json.loads((folder / MANIFEST_FILE).read_text())
    raw["normalisation"]["clip"] = 10.0  # a plausible, valid edit
    (folder / MANIFEST_FILE).write_text(json.dumps(raw))
    with pytest.raises(PolicyBundleError, match=f"{MANIFEST_FILE}: the bundle now hashes to .*"):
        _load(folder, digest)


def test_an_onnx_file_swapped_with_its_record_is_refused(tmp_path: Path) -> None:
    """Replacing the network and the manifest's record of it consistently still changes the
    bundle's address: refused, naming the manifest."""
    folder, digest = _stored(tmp_path)
    other = linear_policy_onnx(*random_linear(5))
    manifest = PolicyManifest.from_json((folder / MANIFEST_FILE).read_text())
    for name in (ONNX_FILE, MANIFEST_FILE):
        (folder / name).unlink()
    write_bundle(folder, replace(manifest, onnx_sha256=manifest_for(other).onnx_sha256), other)
    with pytest.raises(PolicyBundleError, match=f"{MANIFEST_FILE}: the bundle now hashes"):
        _load(folder, digest)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: (f / MANIFEST_FILE).write_text("{not json"), "manifest.json: unreadable"),
        (lambda f: (f / ONNX_FILE).unlink(), "policy.onnx: missing"),
        (lambda f: (f / "extra.bin").write_bytes(b"x"), "extra.bin: not part of a policy bundle"),
    ],
)
def test_a_damaged_bundle_is_refused_naming_the_file(
    tmp_path: Path, change: object, message: str
) -> None:
    folder, digest = _stored(tmp_path)
    assert callable(change)
    change(folder)
    with pytest.raises(ArtifactIntegrityError, match=message):
        _load(folder, digest)


def test_a_missing_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyBundleError, match="missing"):
        load_bundle(LocalArtifactStore(tmp_path), "ab" * 32)


def test_a_manifest_that_does_not_fit_its_network_is_refused(tmp_path: Path) -> None:
    weights, bias = random_linear(6)
    onnx_bytes = linear_policy_onnx(weights, bias)
    store = LocalArtifactStore(tmp_path)
    wrong = replace(manifest_for(onnx_bytes), observation_size=SIZE + 1)
    digest = store.put(lambda folder: write_bundle(folder, wrong, onnx_bytes))
    with pytest.raises(PolicyBundleError, match=f"maps {SIZE} inputs to 4 outputs.*{SIZE + 1}"):
        OnnxPolicy(load_bundle(store, digest))


def test_write_refuses_bytes_that_are_not_the_manifests(tmp_path: Path) -> None:
    manifest = manifest_for(linear_policy_onnx(*random_linear(7)))
    with pytest.raises(ValueError, match="ONNX bytes hash to"):
        write_bundle(tmp_path, manifest, linear_policy_onnx(*random_linear(8)))
    bad_norm = replace(manifest, normalisation=Normalisation("vecnormalize", (0.0,), (1.0,), 5.0))
    with pytest.raises(PolicyBundleError, match="1 means and 1 variances for an observation"):
        write_bundle(tmp_path, bad_norm, linear_policy_onnx(*random_linear(7)))
