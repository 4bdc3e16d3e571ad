"""The live CPU path: ONNX Runtime, one thread, no torch.

A serving process imports this module (and :mod:`member`) only; torch is never imported, which
keeps ~190 MiB out of its RSS, and ONNX Runtime with ``intra_op_num_threads=1`` answers one
window in tens of microseconds without per-call framework overhead. Every artifact file is
checked against its manifest hash before a session is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from quantum_trader.models.forecasting import artifact
from quantum_trader.models.forecasting.spec import ForecastSpec
from quantum_trader.models.forecasting.windows import SeriesInput, check_window


class OnnxForecaster:
    """A saved forecaster served by ONNX Runtime."""

    def __init__(self, directory: Path, expected_hash: str | None = None, threads: int = 1) -> None:
        files = (artifact.CONFIG_FILE, artifact.ONNX_FILE)
        self.artifact_hash = artifact.verify(directory, expected_hash, files=files)
        self.spec = ForecastSpec.from_json((directory / artifact.CONFIG_FILE).read_text())
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(directory / artifact.ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    def predict_batch(self, windows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(n, input_size, C) checked float32 windows → (n, horizon, C, Q).

        A lone window is run as a batch of two (itself twice). ONNX Runtime's CPU matrix
        kernels take another path for one row than for two or more, and the two paths differ
        in the last float32 bit (measured: up to 4.8e-7 on N-HiTS). Padding makes a window's
        forecast a function of the window alone, whatever else shares the call: what lets a
        replay compute its votes in batch and still equal the live path bit for bit.
        """
        if len(windows) == 1:
            return self._run(np.concatenate([windows, windows]))[:1]
        return self._run(windows)

    def _run(self, windows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        outputs = self._session.run(None, {self._input: windows})
        return cast(npt.NDArray[np.float32], outputs[0])

    def predict_quantiles(self, window: SeriesInput) -> npt.NDArray[np.float32]:
        """(horizon, C, Q) from the last ``input_size`` rows; NaN or short windows refused."""
        x = check_window(window, self.spec.input_size, self.spec.n_channels, "OnnxForecaster")
        first: npt.NDArray[np.float32] = self.predict_batch(x)[0]
        return first

    def predict(self, window: SeriesInput) -> npt.NDArray[np.float32]:
        """Point forecast (median level), shape (horizon, C)."""
        return self.predict_quantiles(window)[..., self.spec.median_index]
