"""Generic forecasting API: fit on any univariate or multivariate series, predict, save, load.

Not tied to candles: a series is a (time, channels) array or DataFrame, or a list of them (a
panel of series with the same channels, e.g. several symbols). Channels are forecast
independently with shared weights. The same class runs on standard forecasting benchmarks.

>>> import numpy as np
>>> t = np.arange(400.0)
>>> model = Forecaster.nhits(input_size=24, horizon=4, hidden_size=16,
...     training=TrainingConfig(max_epochs=1, progress=False))
>>> _ = model.fit(np.sin(t / 5))
>>> model.predict(np.sin(t[-24:] / 5)).shape
(4, 1)
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import torch
from safetensors.torch import load_file
from torch import nn

from quantum_trader.domain.digests import sha256_bytes
from quantum_trader.domain.errors import DataError
from quantum_trader.models.forecasting import artifact
from quantum_trader.models.forecasting.nhits import NHiTS, NHiTSConfig
from quantum_trader.models.forecasting.patchtst import PatchTST, PatchTSTConfig
from quantum_trader.models.forecasting.revin import ChannelIndependent, RevIN
from quantum_trader.models.forecasting.spec import ForecastSpec
from quantum_trader.models.forecasting.training import (
    Trainer,
    TrainingConfig,
    TrainingResult,
    deterministic,
    load_state_bytes,
    state_bytes,
)
from quantum_trader.models.forecasting.windows import (
    SeriesInput,
    as_matrix,
    check_window,
    time_split,
)

ONNX_OPSET = 17


def build_network(spec: ForecastSpec) -> ChannelIndependent:
    """The torch network a spec describes (weights freshly initialised from torch's RNG)."""
    core: nn.Module
    if spec.architecture == "nhits":
        core = NHiTS(spec.input_size, spec.horizon, spec.n_outputs, _nhits_config(spec))
    else:
        core = PatchTST(spec.input_size, spec.horizon, spec.n_outputs, _patchtst_config(spec))
    return ChannelIndependent(core, RevIN(spec.n_channels, subtract_last=spec.subtract_last))


def _nhits_config(spec: ForecastSpec) -> NHiTSConfig:
    raw = dict(spec.network)
    for key in ("pooling_sizes", "downsample"):
        if key in raw:
            raw[key] = tuple(raw[key])
    return NHiTSConfig(**raw)


def _patchtst_config(spec: ForecastSpec) -> PatchTSTConfig:
    return PatchTSTConfig(**spec.network)


class Forecaster:
    """A trained (or trainable) N-HiTS or PatchTST forecaster."""

    def __init__(self, spec: ForecastSpec, training: TrainingConfig | None = None) -> None:
        self.spec = spec
        self.training = training or TrainingConfig()
        with deterministic(self.training.seed, self.training.num_threads):
            self.network = build_network(spec)
        self.network.eval()
        self.result: TrainingResult | None = None

    @classmethod
    def nhits(
        cls,
        input_size: int,
        horizon: int,
        *,
        n_channels: int = 1,
        quantiles: tuple[float, ...] = (0.5,),
        subtract_last: bool = False,
        training: TrainingConfig | None = None,
        **network: Any,
    ) -> Forecaster:
        """N-HiTS; ``network`` overrides :class:`NHiTSConfig` fields."""
        cfg = asdict(NHiTSConfig(**network))
        spec = ForecastSpec("nhits", input_size, horizon, n_channels, quantiles, subtract_last, cfg)
        return cls(spec, training)

    @classmethod
    def patchtst(
        cls,
        input_size: int,
        horizon: int,
        *,
        n_channels: int = 1,
        quantiles: tuple[float, ...] = (0.5,),
        subtract_last: bool = False,
        training: TrainingConfig | None = None,
        **network: Any,
    ) -> Forecaster:
        """PatchTST; ``network`` overrides :class:`PatchTSTConfig` fields."""
        cfg = asdict(PatchTSTConfig(**network))
        spec = ForecastSpec(
            "patchtst", input_size, horizon, n_channels, quantiles, subtract_last, cfg
        )
        return cls(spec, training)

    # --- training -----------------------------------------------------------------------
    def fit(
        self,
        series: SeriesInput | Sequence[SeriesInput],
        checkpoint_dir: Path | None = None,
        initial: Forecaster | None = None,
    ) -> TrainingResult:
        """Train on one series or a list of series with the same channels: from scratch, or
        from ``initial``'s weights (a warm start; its spec must be this one's)."""
        if initial is not None and initial.spec.to_json() != self.spec.to_json():
            raise ValueError(
                f"Forecaster.fit: a warm start needs the same spec; the initial model is "
                f"{initial.spec}, this one {self.spec}"
            )
        items = cast(
            Sequence[SeriesInput], series if isinstance(series, list | tuple) else [series]
        )
        matrices = [as_matrix(s, "Forecaster.fit") for s in items]
        for m in matrices:
            if m.shape[1] != self.spec.n_channels:
                raise DataError(
                    f"Forecaster.fit: series has {m.shape[1]} channels, spec.n_channels="
                    f"{self.spec.n_channels}"
                )
        cfg = self.training
        split = time_split(
            matrices,
            self.spec.input_size,
            self.spec.horizon,
            cfg.validation_fraction,
            cfg.window_stride,
        )
        with deterministic(cfg.seed, cfg.num_threads):
            self.network = build_network(self.spec)
            if initial is not None:
                load_state_bytes(self.network, state_bytes(initial.network))
            self.result = Trainer(cfg, self.spec.quantiles).fit(
                self.network, split.train, split.validation, checkpoint_dir
            )
        return self.result

    @property
    def weights_hash(self) -> str:
        return sha256_bytes(state_bytes(self.network))

    # --- prediction (training framework) -------------------------------------------------
    def predict_quantiles(self, window: SeriesInput) -> npt.NDArray[np.float32]:
        """(horizon, channels, quantiles) from the last ``input_size`` rows of ``window``."""
        x = check_window(window, self.spec.input_size, self.spec.n_channels, "Forecaster.predict")
        first: npt.NDArray[np.float32] = self.predict_batch(x)[0]
        return first

    def predict(self, window: SeriesInput) -> npt.NDArray[np.float32]:
        """Point forecast (the median level), shape (horizon, channels)."""
        return self.predict_quantiles(window)[..., self.spec.median_index]

    def predict_batch(self, windows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(n, input_size, C) checked windows → (n, horizon, C, Q)."""
        self.network.eval()
        with torch.no_grad():
            out = self.network(torch.from_numpy(np.ascontiguousarray(windows, np.float32)))
        return cast(npt.NDArray[np.float32], out.numpy())

    # --- artifact -----------------------------------------------------------------------
    def save(self, directory: Path, extra: dict[str, str] | None = None) -> str:
        """Write config, safetensors weights and ONNX; return the artifact hash."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / artifact.CONFIG_FILE).write_text(self.spec.to_json())
        (directory / artifact.WEIGHTS_FILE).write_bytes(state_bytes(self.network))
        self.export_onnx(directory / artifact.ONNX_FILE)
        return artifact.write_manifest(directory, extra)

    def export_onnx(self, path: Path) -> None:
        self.network.eval()
        example = torch.zeros(1, self.spec.input_size, self.spec.n_channels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                self.network,
                (example,),
                str(path),
                dynamo=False,
                input_names=["window"],
                output_names=["forecast"],
                dynamic_axes={"window": {0: "batch"}, "forecast": {0: "batch"}},
                opset_version=ONNX_OPSET,
            )

    @classmethod
    def load(
        cls,
        directory: Path,
        expected_hash: str | None = None,
        training: TrainingConfig | None = None,
    ) -> Forecaster:
        """Verify every file's hash, then rebuild the network from config and safetensors."""
        artifact.verify(directory, expected_hash)
        spec = ForecastSpec.from_json((directory / artifact.CONFIG_FILE).read_text())
        model = cls(spec, training)
        state = load_file(str(directory / artifact.WEIGHTS_FILE))
        model.network.load_state_dict(state, strict=True)
        model.network.eval()
        return model

    def describe(self) -> dict[str, Any]:
        """Spec and training outcome, JSON-ready (for lineage)."""
        info: dict[str, Any] = {"spec": json.loads(self.spec.to_json())}
        info["training"] = asdict(self.training)
        if self.result is not None:
            info["result"] = asdict(self.result)
        return info
