"""What XGBoost and LightGBM members share: validation, artifacts, lineage, the 1-row fast path.

Subclasses fill four hooks (train, predict a matrix, write and read the native file), and may
fill a fifth, ``_to_onnx``, to serve single rows through ONNX Runtime. The live path,
:meth:`TabularModel.predict_row`, copies the feature row into a preallocated 1-row array and
calls the fastest exact path: ONNX Runtime where the member compiles to it (XGBoost: ~15 µs
against ~230 µs for its native call), else the native booster (LightGBM, whose double-precision
split thresholds do not survive ONNX's float32 inputs exactly). Figures in docs/models.md.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from quantum_trader.domain.digests import sha256_file
from quantum_trader.domain.errors import DataError
from quantum_trader.models.base import (
    FloatArray,
    ModelMetadata,
    read_verified,
    verify_file,
    write_metadata,
)
from quantum_trader.models.calibration import VectorScaling
from quantum_trader.status.registry import ModuleHandle

N_CLASSES = 3
SERVING_FILE = "model.onnx"


class OnnxRowServer:
    """One-row inference through an ONNX Runtime session pinned to one thread."""

    __slots__ = ("_input", "_output", "_row", "_session")

    def __init__(self, onnx_bytes: bytes, n_features: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            onnx_bytes, options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self._output = [o.name for o in self._session.get_outputs() if "prob" in o.name]
        if len(self._output) != 1:
            raise DataError("ONNX model has no single probabilities output")
        self._row = np.zeros((1, n_features), dtype=np.float32)

    def predict_row(self, row: FloatArray) -> FloatArray:
        self._row[0, :] = row
        out = self._session.run(self._output, {self._input: self._row})[0]
        return np.asarray(out, dtype=np.float64).reshape(N_CLASSES)

    def predict_rows(self, rows: FloatArray) -> FloatArray:
        """Many rows in one session call (batch votes of a replay)."""
        matrix = np.ascontiguousarray(rows, dtype=np.float32)
        out = self._session.run(self._output, {self._input: matrix})[0]
        return np.asarray(out, dtype=np.float64).reshape(len(matrix), N_CLASSES)


class TabularModel(ABC):
    """Base of the tree members; one instance is one trained (or to-be-trained) model."""

    name: ClassVar[str] = ""
    model_file: ClassVar[str] = ""
    default_params: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        *,
        scope: str,
        horizon: int,
        features: tuple[str, ...],
        params: dict[str, Any] | None = None,
        timeframe: str = "1h",
        dead_zone: float = 0.001,
        handle: ModuleHandle | None = None,
    ) -> None:
        merged = {**self.default_params, **(params or {})}
        self._metadata = ModelMetadata(
            name=self.name,
            version="unregistered",
            scope=scope,
            horizon=horizon,
            features=features,
            hyperparameters=merged,
            timeframe=timeframe,
            dead_zone=dead_zone,
        )
        self._calibration = VectorScaling()
        self._native: Any = None
        # a loaded model that serves rows through ONNX reads its native file only when a
        # batch prediction needs it: the serving process then never imports the native library
        self._native_path: Path | None = None
        self._serving: OnnxRowServer | None = None
        self._row = np.zeros((1, len(features)), dtype=self.row_dtype())
        self.handle = handle

    # --- hooks ------------------------------------------------------------------------------
    def _booster_params(self) -> dict[str, Any]:
        """The hyperparameters the native ``train`` call takes (the round count is separate)."""
        params = dict(self.metadata.hyperparameters)
        params.pop("num_boost_round", None)
        return params

    @abstractmethod
    def _train(self, x: FloatArray, y: np.ndarray) -> Any:
        """Fit the native booster on rows ``x`` and integer labels ``y``; return it."""

    @abstractmethod
    def _predict_matrix(self, x: np.ndarray) -> FloatArray:
        """Rows of class probabilities from the native booster."""

    @abstractmethod
    def _write_native(self, path: Path) -> None:
        """Save the native booster in its own format."""

    @abstractmethod
    def _read_native(self, path: Path) -> Any:
        """Load a native booster written by :meth:`_write_native`."""

    def _to_onnx(self) -> bytes | None:
        """The trained model as ONNX bytes, where the member has an exact conversion."""
        return None

    @classmethod
    def row_dtype(cls) -> type[np.floating[Any]]:
        return np.float64

    # --- protocol ---------------------------------------------------------------------------
    @property
    def metadata(self) -> ModelMetadata:
        return self._metadata

    @property
    def trained(self) -> bool:
        return self._native is not None or self._native_path is not None

    def annotate(self, **changes: Any) -> None:
        """Record lineage (training window, data hash, metrics, trained_at, calibration) in
        the metadata."""
        self._metadata = dataclasses.replace(self._metadata, **changes)
        self._calibration = VectorScaling.from_dict(self._metadata.calibration)

    @property
    def calibration(self) -> VectorScaling:
        """What every prediction passes through (the identity until one is fitted)."""
        return self._calibration

    def fit(self, x: FloatArray, y: FloatArray) -> None:
        """Train on feature rows ``x`` and class labels ``y`` (0/1/2); rows with a NaN label
        are dropped (the last ``horizon`` rows of a series have none)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self._check_width(x, "fit")
        if len(x) != len(y):
            raise DataError(f"{self.name}.fit: {len(x)} feature rows but {len(y)} labels")
        keep = ~np.isnan(y)
        x, labels = x[keep], y[keep].astype(np.int64)
        if len(labels) == 0:
            raise DataError(f"{self.name}.fit: no labelled rows")
        if not np.isin(labels, (0, 1, 2)).all():
            raise DataError(f"{self.name}.fit: labels must be 0 (DOWN), 1 (FLAT) or 2 (UP)")
        self._native = self._train(x, labels)
        onnx_bytes = self._to_onnx()
        self._serving = None if onnx_bytes is None else OnnxRowServer(onnx_bytes, x.shape[1])
        if self.handle is not None:
            self.handle.count("trainings")

    def predict_proba(self, x: FloatArray) -> FloatArray:
        """Rows of [p_down, p_flat, p_up] for a matrix (or one row) of features."""
        self._require_trained()
        matrix = np.atleast_2d(np.asarray(x, dtype=np.float64))
        self._check_width(matrix, "predict_proba")
        if len(matrix) == 1:
            return self.predict_row(matrix[0]).reshape(1, N_CLASSES)
        out = self._calibration.apply(self._predict_matrix(matrix))
        if self.handle is not None:
            self.handle.count("predictions", len(matrix))
        return out

    def predict_proba_uncalibrated(self, x: FloatArray) -> FloatArray:
        """The booster's own probabilities, before calibration (``evaluate`` shows both)."""
        self._require_trained()
        matrix = np.atleast_2d(np.asarray(x, dtype=np.float64))
        self._check_width(matrix, "predict_proba_uncalibrated")
        return self._predict_matrix(matrix)

    def predict_row(self, row: FloatArray) -> FloatArray:
        """The live fast path: one feature row → [p_down, p_flat, p_up]."""
        if self._serving is None:
            self._require_trained()
        if self._serving is not None:
            out: FloatArray = self._serving.predict_row(row)
        else:
            buf = self._row
            buf[0, :] = row
            out = self._predict_matrix(buf)[0]
        if self.handle is not None:
            self.handle.count("predictions")
        return self._calibration.apply(out)

    def rows_call(self, rows: FloatArray) -> Callable[[], FloatArray]:
        """Many rows through the live path's runtime in one call — ONNX Runtime where the model
        has a serving graph (XGBoost), else the native booster (LightGBM) — so that batch votes
        come from the same runtime as :meth:`predict_row`. Checked and bound to ``rows`` here,
        counted by nobody: the call touches no state of the model, so it may run on another
        thread; :meth:`record_served` records the evidence where the votes are used."""
        matrix = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        self._check_width(matrix, "rows_call")
        if self._serving is None:
            self._require_trained()  # loads the native file here, not on the caller's thread
        raw = (
            partial(self._serving.predict_rows, matrix)
            if self._serving is not None
            else partial(self._predict_matrix, matrix)
        )
        calibration = self._calibration
        return raw if calibration.is_identity else lambda: calibration.apply(raw())

    def record_served(self, rows: int) -> None:
        if self.handle is not None:
            self.handle.count("predictions", rows)

    def save(self, directory: Path) -> str:
        """Write the native model file and metadata.json into ``directory``; return the sha256."""
        self._require_trained()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.model_file
        self._write_native(path)
        digest = sha256_file(path)
        self.annotate(artifact_hash=digest)
        onnx_bytes = self._to_onnx()
        if onnx_bytes is not None:
            (directory / SERVING_FILE).write_bytes(onnx_bytes)
            self.annotate(
                serving_file=SERVING_FILE, serving_hash=sha256_file(directory / SERVING_FILE)
            )
        write_metadata(directory, self._metadata)
        if self.handle is not None:
            self.handle.count("artifacts_written")
        return digest

    @classmethod
    def load(cls, directory: Path, handle: ModuleHandle | None = None) -> Self:
        """Read an artifact; ArtifactIntegrityError if the model file does not match its hash."""
        metadata = read_verified(directory, cls.model_file)
        if metadata.name != cls.name:
            raise DataError(
                f"artifact {directory} holds a {metadata.name!r} model, not {cls.name!r}"
            )
        model = cls(
            scope=metadata.scope,
            horizon=metadata.horizon,
            features=metadata.features,
            params=metadata.hyperparameters,
            timeframe=metadata.timeframe,
            dead_zone=metadata.dead_zone,
            handle=handle,
        )
        model._metadata = metadata
        model._calibration = VectorScaling.from_dict(metadata.calibration)
        if metadata.serving_file:
            onnx_path = verify_file(directory, metadata.serving_file, metadata.serving_hash)
            model._serving = OnnxRowServer(onnx_path.read_bytes(), len(metadata.features))
            model._native_path = directory / cls.model_file  # hash checked by read_verified
        else:
            model._native = model._read_native(directory / cls.model_file)
        return model

    # --- helpers ------------------------------------------------------------------------------
    def _require_trained(self) -> Any:
        if self._native is None and self._native_path is not None:
            self._native = self._read_native(self._native_path)
        if self._native is None:
            raise RuntimeError(f"{self.name} ({self._metadata.scope}) is not trained or loaded")
        return self._native

    def _check_width(self, x: np.ndarray, where: str) -> None:
        want = len(self._metadata.features)
        if x.ndim != 2 or x.shape[1] != want:
            raise DataError(
                f"{self.name}.{where}: features have shape {x.shape}, want (n, {want}) "
                f"for {self._metadata.features[:3]}…"
            )
