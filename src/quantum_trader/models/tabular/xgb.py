"""XGBoost member: ``multi:softprob`` on the feature rows, saved as native UBJSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from quantum_trader.models.base import FloatArray
from quantum_trader.models.tabular.base import N_CLASSES, TabularModel


class XgbModel(TabularModel):
    name: ClassVar[str] = "xgb"
    model_file: ClassVar[str] = "model.ubj"
    default_params: ClassVar[dict[str, Any]] = {
        "objective": "multi:softprob",
        "num_class": N_CLASSES,
        "eval_metric": "mlogloss",
        "tree_method": "hist",
        "max_bin": 64,
        "max_depth": 4,
        "eta": 0.05,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "min_child_weight": 5.0,
        "nthread": 2,
        "seed": 7,
        "num_boost_round": 150,
    }

    def _train(self, x: FloatArray, y: np.ndarray) -> Any:
        import xgboost  # imported where needed: a serving process (ONNX) never loads it

        rounds = int(self.metadata.hyperparameters["num_boost_round"])
        data = xgboost.DMatrix(x, label=y, nthread=int(self.metadata.hyperparameters["nthread"]))
        booster = xgboost.train(self._booster_params(), data, num_boost_round=rounds)
        return _for_prediction(booster)

    def _predict_matrix(self, x: np.ndarray) -> FloatArray:
        out = self._native.inplace_predict(x, validate_features=False)
        return np.asarray(out, dtype=np.float64).reshape(len(x), N_CLASSES)

    def _write_native(self, path: Path) -> None:
        self._native.save_model(str(path))

    def _read_native(self, path: Path) -> Any:
        import xgboost

        booster = xgboost.Booster()
        booster.load_model(str(path))
        return _for_prediction(booster)

    def _to_onnx(self) -> bytes | None:
        """Exact: XGBoost itself compares float32 feature values, as ONNX Runtime does."""
        from onnxmltools.convert import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        width = len(self.metadata.features)
        model = convert_xgboost(
            self._native, initial_types=[("features", FloatTensorType([None, width]))]
        )
        # The converter names the graph with a random UUID; a fixed name keeps the artifact's
        # bytes (and so its content address) a function of the model alone.
        model.graph.name = f"{self.name}-{self.metadata.scope}-h{self.metadata.horizon}"
        data: bytes = model.SerializeToString()
        return data


def _for_prediction(booster: Any) -> Any:
    """Predict on one thread: a single row gains nothing from threads, and on a busy 2-core
    machine waking a second OpenMP thread put the p99 of one row at ~76 ms instead of < 1 ms."""
    booster.set_param({"nthread": 1})
    return booster
