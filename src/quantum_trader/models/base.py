"""The model protocol every ensemble member implements (tabular and forecasting alike).

A member turns features (or a history window) into DOWN / FLAT / UP probabilities on the label
definition of :mod:`quantum_trader.features.labels`. Artifacts are saved in safe formats (native
booster files, ONNX, safetensors), never pickle, and carry a content hash checked on load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


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
    artifact_hash: str = ""


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
