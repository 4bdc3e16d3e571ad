"""The on-disk forecaster artifact: files, their sha256, and the check on load (no torch).

Layout of an artifact directory::

    config.json          ForecastSpec
    weights.safetensors  the network's state dict (training framework)
    model.onnx           the same network for ONNX Runtime (serving)
    manifest.json        sha256 of each file above and the artifact hash over them

The artifact hash is the sha256 of the sorted ``name:sha256`` lines
(:func:`~quantum_trader.domain.digests.manifest_hash`); a registry records it, and
passing it back as ``expected_hash`` on load also catches an edited manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

from quantum_trader.domain.digests import manifest_hash, sha256_file
from quantum_trader.domain.errors import ArtifactIntegrityError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
ONNX_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
ARTIFACT_FILES = (CONFIG_FILE, WEIGHTS_FILE, ONNX_FILE)


def write_manifest(directory: Path, extra: dict[str, str] | None = None) -> str:
    """Hash the artifact files under ``directory``, write the manifest, return the artifact hash."""
    files = {name: sha256_file(directory / name) for name in ARTIFACT_FILES}
    digest = manifest_hash(files)
    manifest = {"files": files, "artifact_hash": digest, **(extra or {})}
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, sort_keys=True, indent=2))
    return digest


def verify(
    directory: Path, expected_hash: str | None = None, files: tuple[str, ...] = ARTIFACT_FILES
) -> str:
    """Check ``files`` against the manifest (and the manifest against ``expected_hash``).

    Raises :class:`ArtifactIntegrityError` naming the file and both hashes; returns the
    artifact hash.
    """
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ArtifactIntegrityError(
            f"{manifest_path}: manifest missing; not a forecaster artifact"
        )
    manifest = json.loads(manifest_path.read_text())
    recorded: dict[str, str] = manifest["files"]
    digest = manifest_hash(recorded)
    if digest != manifest["artifact_hash"]:
        raise ArtifactIntegrityError(
            f"{manifest_path}: artifact_hash={manifest['artifact_hash']} but its file table "
            f"hashes to {digest}"
        )
    if expected_hash is not None and digest != expected_hash:
        raise ArtifactIntegrityError(
            f"{directory}: artifact hash {digest} differs from the expected {expected_hash}"
        )
    for name in files:
        path = directory / name
        if not path.is_file():
            raise ArtifactIntegrityError(f"{path}: file listed in the manifest is missing")
        actual = sha256_file(path)
        if actual != recorded[name]:
            raise ArtifactIntegrityError(
                f"{path}: sha256 {actual} differs from the manifest's {recorded[name]}; "
                "the file was changed after it was written"
            )
    return digest
