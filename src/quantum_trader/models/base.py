"""The model protocol every ensemble member implements (tabular and forecasting alike).

A member turns features (or a history window) into DOWN / FLAT / UP probabilities on the label
definition of :mod:`quantum_trader.features.labels`. Artifacts are saved in safe formats (native
booster files, ONNX, safetensors), never pickle, and carry a content hash checked on load:
``save`` writes the model file and ``metadata.json`` (which records the model file's sha256),
``load`` recomputes the sha256 and refuses a file that does not match.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

from quantum_trader.domain.digests import sha256_file
from quantum_trader.domain.errors import ArtifactIntegrityError

FloatArray = npt.NDArray[np.float64]
METADATA_FILE = "metadata.json"


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """What a trained model is and how it was made (its lineage)."""

    name: str  # "xgb" | "lgbm" | "nhits" | "patchtst"
    version: str
    scope: str  # a symbol, or "global"
    horizon: int
    features: tuple[str, ...] = ()
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    training_window: tuple[int, int] | None = None  # epoch ms, inclusive open times
    data_hash: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    artifact_hash: str = ""  # sha256 of the model file (native format)
    timeframe: str = "1h"
    dead_zone: float = 0.001
    trained_at: int | None = None  # epoch ms of the clock that trained it
    serving_file: str = ""  # a compiled serving form (ONNX) beside the native file, if any
    serving_hash: str = ""  # its sha256, checked on load like artifact_hash
    #: the vector scaling fitted on held-out rows (models/calibration.py); empty: uncalibrated
    calibration: dict[str, list[float]] = field(default_factory=dict)
    #: the label learned (:func:`label_name`); metadata written before it existed is "sign"
    label: str = "sign"

    def to_json(self) -> str:
        """Stable JSON text (sorted keys).

        >>> m = ModelMetadata("xgb", "1", "BTCUSDT", 4, features=("ret_1",))
        >>> ModelMetadata.from_json(m.to_json()) == m
        True
        """
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        raw = json.loads(text)
        raw["features"] = tuple(raw.get("features", ()))
        window = raw.get("training_window")
        raw["training_window"] = None if window is None else (int(window[0]), int(window[1]))
        return cls(**raw)


@runtime_checkable
class DirectionModel(Protocol):
    """fit / predict_proba / save / load, and metadata."""

    name: str

    @property
    def metadata(self) -> ModelMetadata: ...

    def fit(self, x: FloatArray, y: FloatArray) -> None: ...

    def predict_proba(self, x: FloatArray) -> FloatArray:
        """Rows of [p_down, p_flat, p_up], shape (n, 3)."""
        ...

    def save(self, directory: Path) -> str:
        """Write the artifact under ``directory``; return its content hash (sha256 hex)."""
        ...

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Read an artifact written by ``save``; raise ArtifactIntegrityError if it was altered."""
        ...


def write_metadata(directory: Path, metadata: ModelMetadata) -> None:
    (directory / METADATA_FILE).write_text(metadata.to_json(), encoding="utf-8")


def verify_file(directory: Path, name: str, expected: str) -> Path:
    """``directory/name`` after checking its sha256 against ``expected``."""
    path = directory / name
    if not path.is_file():
        raise ArtifactIntegrityError(f"artifact {directory}: {name} is missing")
    actual = sha256_file(path)
    if actual != expected:
        raise ArtifactIntegrityError(
            f"artifact {directory}: {name} has sha256 {actual[:16]}…, metadata records "
            f"{expected[:16]}…; the file was altered or corrupted, refusing to load"
        )
    return path


def read_verified(directory: Path, model_file: str) -> ModelMetadata:
    """Metadata of the artifact in ``directory``, after checking ``model_file``'s sha256."""
    meta_path, model_path = directory / METADATA_FILE, directory / model_file
    for path in (meta_path, model_path):
        if not path.is_file():
            raise ArtifactIntegrityError(f"artifact {directory}: {path.name} is missing")
    try:
        metadata = ModelMetadata.from_json(meta_path.read_text(encoding="utf-8"))
    except (ValueError, TypeError) as exc:
        raise ArtifactIntegrityError(f"artifact {directory}: unreadable metadata ({exc})") from None
    actual = sha256_file(model_path)
    if actual != metadata.artifact_hash:
        raise ArtifactIntegrityError(
            f"artifact {directory}: {model_file} has sha256 {actual[:16]}…, metadata records "
            f"{metadata.artifact_hash[:16]}…; the file was altered or corrupted, refusing to load"
        )
    return metadata


def label_name(kind: str, upper: float, lower: float, vol_span: int) -> str:
    """How metadata names a label: ``"sign"``, or the barrier's multiples and σ's span.

    >>> label_name("sign", 2.0, 2.0, 100), label_name("barrier", 3.0, 2.0, 100)
    ('sign', 'barrier 3/2 sigma, span 100')
    """
    return "sign" if kind == "sign" else f"barrier {upper:g}/{lower:g} sigma, span {vol_span}"
