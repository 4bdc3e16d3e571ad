"""LightGBM member: ``multiclass`` on the feature rows, saved as the native text model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from quantum_trader.models.base import FloatArray
from quantum_trader.models.tabular.base import N_CLASSES, TabularModel


def _import_lightgbm_core() -> Any:
    """Import LightGBM without its scikit-learn wrapper when scikit-learn is not loaded yet.

    LightGBM imports scikit-learn whenever it is installed (for ``LGBMClassifier``, which this
    member does not use: it trains with ``lightgbm.train`` and serves a native ``Booster``).
    scikit-learn is installed here only for the XGBoost→ONNX converter, and importing it costs a
    serving process ~70 MiB of its 400 MiB budget. Hiding it for the duration of this one import
    makes LightGBM's own compatibility check take its "not installed" branch; the entry is
    removed afterwards, so anything that imports scikit-learn later (training) gets it normally.
    """
    if "lightgbm" in sys.modules or "sklearn" in sys.modules:
        import lightgbm

        return lightgbm
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # makes `import sklearn` fail
    try:
        import lightgbm
    finally:
        del sys.modules["sklearn"]
    return lightgbm


lightgbm = _import_lightgbm_core()


class LgbmModel(TabularModel):
    name: ClassVar[str] = "lgbm"
    model_file: ClassVar[str] = "model.txt"
    default_params: ClassVar[dict[str, Any]] = {
        "objective": "multiclass",
        "num_class": N_CLASSES,
        "num_leaves": 15,
        "max_bin": 63,
        "learning_rate": 0.05,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "min_data_in_leaf": 50,
        "num_threads": 2,
        "seed": 7,
        "deterministic": True,
        "verbose": -1,
        "num_boost_round": 150,
    }

    def _train(self, x: FloatArray, y: np.ndarray) -> Any:
        rounds = int(self.metadata.hyperparameters["num_boost_round"])
        data = lightgbm.Dataset(x, label=y, params={"verbose": -1})
        return lightgbm.train(self._booster_params(), data, num_boost_round=rounds)

    def _predict_matrix(self, x: np.ndarray) -> FloatArray:
        # One row: a single thread avoids OpenMP start-up; batches use the configured threads.
        threads = 1 if len(x) == 1 else int(self.metadata.hyperparameters["num_threads"])
        out = self._native.predict(x, num_threads=threads)
        return np.asarray(out, dtype=np.float64).reshape(len(x), N_CLASSES)

    def _write_native(self, path: Path) -> None:
        self._native.save_model(str(path))

    def _read_native(self, path: Path) -> Any:
        return lightgbm.Booster(model_file=str(path))
