"""A versioned policy bundle: one ONNX network and the manifest that says how to serve it.

Layout of a bundle (one folder of the artifact store, addressed by the hash of both files)::

    manifest.json   PolicyManifest: actions, observation size and version, normalisation
                    statistics, env / reward / feature versions, data window, seed, trial id,
                    the ONNX file's sha256 and the names of its input and outputs
    policy.onnx     the policy network: observation (float32, [batch, size]) →
                    action logits and probabilities ([batch, n_actions])

The store's address (:func:`~quantum_trader.domain.digests.tree_hash` over the two files) is
what the registry records; :func:`load_bundle` recomputes it, and checks the ONNX file against
the sha256 the manifest records, so that a changed file is refused with an error naming it.
The manifest holds no wall-clock time: the same trained policy always gives the same bundle.
Writing and reading need no torch (``rl/export.py`` builds the network; this module is shared
by it and by the torch-free serving side).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from quantum_trader.domain.digests import sha256_bytes, tree_hash
from quantum_trader.domain.errors import ArtifactIntegrityError

BUNDLE_FORMAT = "quantum-trader/policy-bundle"
BUNDLE_FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
ONNX_FILE = "policy.onnx"
BUNDLE_FILES = (MANIFEST_FILE, ONNX_FILE)

IDENTITY = "identity"
VEC_NORMALIZE = "vecnormalize"


class PolicyBundleError(ArtifactIntegrityError):
    """A policy bundle is missing, altered, or its manifest does not describe a servable policy."""


@dataclass(frozen=True, slots=True)
class Normalisation:
    """How a raw observation becomes the network's input.

    ``vecnormalize``: stable-baselines3's ``VecNormalize`` at export time,
    ``clip((obs - mean) / sqrt(var + epsilon), -clip, clip)`` in float64, then float32;
    ``identity``: the observation as it is (mean and var empty).
    """

    kind: str
    mean: tuple[float, ...] = ()
    var: tuple[float, ...] = ()
    clip: float = 0.0
    epsilon: float = 0.0

    @classmethod
    def identity(cls) -> Normalisation:
        return cls(IDENTITY)

    def check(self, size: int, where: str) -> None:
        if self.kind == IDENTITY:
            if self.mean or self.var:
                raise PolicyBundleError(f"{where}: identity normalisation carries statistics")
            return
        if self.kind != VEC_NORMALIZE:
            raise PolicyBundleError(
                f"{where}: normalisation kind {self.kind!r}; known {IDENTITY!r}, {VEC_NORMALIZE!r}"
            )
        if len(self.mean) != size or len(self.var) != size:
            raise PolicyBundleError(
                f"{where}: normalisation has {len(self.mean)} means and {len(self.var)} "
                f"variances for an observation of size {size}"
            )
        values = (*self.mean, *self.var, self.clip, self.epsilon)
        if not all(math.isfinite(v) for v in values) or min(self.var) < 0 or self.clip <= 0:
            raise PolicyBundleError(
                f"{where}: normalisation statistics must be finite, variances >= 0 and clip > 0"
            )


@dataclass(frozen=True, slots=True)
class PolicyManifest:
    """What a bundle's network is, how to feed it, and how it was made."""

    name: str  # the registry line, e.g. "ppo_selector"
    scope: str  # a symbol, or "global"
    algorithm: str  # "PPO", "MaskablePPO"
    actions: tuple[str, ...]  # action index → name (a strategy for a selector)
    observation_size: int
    observation_version: str  # the encoder's version: an observation means what it meant
    env_version: str
    reward_version: str
    feature_version: str
    data_window: tuple[int, int]  # epoch ms: first and last open time trained on
    seed: int
    trial_id: str
    normalisation: Normalisation
    onnx_sha256: str
    opset: int
    input_name: str = "obs"
    logits_output: str = "logits"
    probs_output: str = "probs"
    data_hash: str = ""
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    libraries: Mapping[str, str] = field(default_factory=dict)  # exporter versions
    format: str = BUNDLE_FORMAT
    format_version: int = BUNDLE_FORMAT_VERSION

    def check(self, where: str) -> None:
        """Refuse a manifest that cannot be served, naming the field."""
        if self.format != BUNDLE_FORMAT or self.format_version != BUNDLE_FORMAT_VERSION:
            raise PolicyBundleError(
                f"{where}: format {self.format!r} v{self.format_version}; this build reads "
                f"{BUNDLE_FORMAT!r} v{BUNDLE_FORMAT_VERSION}"
            )
        if not self.name or not self.scope:
            raise PolicyBundleError(f"{where}: name and scope must be non-empty")
        if not self.actions or len(set(self.actions)) != len(self.actions):
            raise PolicyBundleError(f"{where}: actions {list(self.actions)} empty or repeated")
        if self.observation_size <= 0:
            raise PolicyBundleError(f"{where}: observation_size {self.observation_size} <= 0")
        if self.data_window[0] > self.data_window[1]:
            raise PolicyBundleError(f"{where}: data_window {self.data_window} runs backwards")
        if len(self.onnx_sha256) != 64:
            raise PolicyBundleError(f"{where}: onnx_sha256 {self.onnx_sha256!r} is no sha256")
        self.normalisation.check(self.observation_size, where)

    def to_json(self) -> str:
        raw = asdict(self)
        raw["hyperparameters"] = dict(self.hyperparameters)
        raw["libraries"] = dict(self.libraries)
        return json.dumps(raw, sort_keys=True, indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> PolicyManifest:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("the manifest is not a JSON object")
        norm = raw.pop("normalisation")
        norm["mean"] = tuple(float(v) for v in norm.get("mean", ()))
        norm["var"] = tuple(float(v) for v in norm.get("var", ()))
        raw["normalisation"] = Normalisation(**norm)
        raw["actions"] = tuple(str(a) for a in raw["actions"])
        raw["data_window"] = (int(raw["data_window"][0]), int(raw["data_window"][1]))
        return cls(**raw)


@dataclass(frozen=True, slots=True)
class PolicyBundle:
    """A verified bundle in memory: its address, its manifest and the ONNX bytes checked."""

    digest: str
    manifest: PolicyManifest
    onnx_bytes: bytes


class BundleSource(Protocol):
    """Where bundles live by address (``adapters/artifacts.py`` ``LocalArtifactStore``)."""

    def path(self, digest: str) -> Path: ...


def write_bundle(directory: Path, manifest: PolicyManifest, onnx_bytes: bytes) -> None:
    """Write the two files of a bundle into ``directory`` (an artifact store's ``put``)."""
    manifest.check(f"policy manifest {manifest.name}/{manifest.scope}")
    actual = sha256_bytes(onnx_bytes)
    if actual != manifest.onnx_sha256:
        raise ValueError(
            f"write_bundle {manifest.name}/{manifest.scope}: the ONNX bytes hash to "
            f"{actual[:16]}…, the manifest records {manifest.onnx_sha256[:16]}…"
        )
    (directory / ONNX_FILE).write_bytes(onnx_bytes)
    (directory / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")


def load_bundle(source: BundleSource, digest: str) -> PolicyBundle:
    """The bundle stored at ``digest``, after every check (:func:`read_bundle`)."""
    return read_bundle(source.path(digest), digest)


def read_bundle(folder: Path, digest: str) -> PolicyBundle:
    """Read and verify the bundle in ``folder`` against its address ``digest``.

    Refused with :class:`PolicyBundleError` naming the file: a missing or extra file, an
    unreadable manifest, an ONNX file whose sha256 is not the manifest's record, a manifest
    changed after export (the folder no longer hashes to its address), a manifest that does
    not describe a servable policy.
    """
    if not folder.is_dir():
        raise PolicyBundleError(f"policy bundle {digest[:16]}… is missing ({folder})")
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    for name in BUNDLE_FILES:
        if name not in present:
            raise PolicyBundleError(f"{folder / name}: missing from policy bundle {digest[:16]}…")
    extra = sorted(present - set(BUNDLE_FILES))
    if extra:
        raise PolicyBundleError(
            f"{folder / extra[0]}: not part of a policy bundle (extra files {extra}); "
            "refusing the bundle"
        )
    manifest_path, onnx_path = folder / MANIFEST_FILE, folder / ONNX_FILE
    try:
        manifest = PolicyManifest.from_json(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, KeyError) as exc:
        raise PolicyBundleError(
            f"{manifest_path}: unreadable policy manifest ({type(exc).__name__}: {exc}); "
            "refusing the bundle"
        ) from None
    onnx_bytes = onnx_path.read_bytes()
    actual = sha256_bytes(onnx_bytes)
    if actual != manifest.onnx_sha256:
        raise PolicyBundleError(
            f"{onnx_path}: sha256 {actual[:16]}… differs from the {manifest.onnx_sha256[:16]}… "
            f"that {MANIFEST_FILE} records; the ONNX file (or the manifest's record of it) was "
            "altered after export, refusing the bundle"
        )
    address = tree_hash(folder)
    if address != digest:
        raise PolicyBundleError(
            f"{manifest_path}: the bundle now hashes to {address[:16]}…, not its address "
            f"{digest[:16]}…; the ONNX file is intact, so the manifest was altered after "
            "export, refusing the bundle"
        )
    manifest.check(str(manifest_path))
    return PolicyBundle(digest, manifest, onnx_bytes)
