"""Candle forecasters: the N-HiTS and PatchTST members trained on one or more symbols' closes.

The series is ``log(close)``; the target is the log close 1..h candles ahead as quantiles
(:data:`~quantum_trader.models.forecasting.member.CANDLE_QUANTILES`); RevIN centres each window
on its last value. Sizes are chosen for 2 CPU cores; docs/forecasting.md lists the papers'
defaults beside these and why each differs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from quantum_trader.domain.digests import sha256_bytes
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.time import MS_PER_DAY
from quantum_trader.features.labels import LabelSpec
from quantum_trader.features.series import CandleSeries as Candles
from quantum_trader.models.base import ModelMetadata
from quantum_trader.models.forecasting import held_out
from quantum_trader.models.forecasting.api import Forecaster
from quantum_trader.models.forecasting.member import CANDLE_QUANTILES, write_metadata
from quantum_trader.models.forecasting.nhits import NHiTSConfig
from quantum_trader.models.forecasting.patchtst import PatchTSTConfig
from quantum_trader.models.forecasting.spec import Architecture
from quantum_trader.models.forecasting.training import TrainingConfig

INPUT_SIZE = 168  # one week of hourly candles

#: N-HiTS: the paper's 3 stacks x 1 block, 2 layers of 512; pooling and ratios for H=4.
CANDLE_NHITS = NHiTSConfig(pooling_sizes=(8, 4, 1), downsample=(4, 2, 1), hidden_size=512)
#: PatchTST: the paper's own small-dataset configuration (ETTh1, 17k rows ~ 2 years of 1h).
CANDLE_PATCHTST = PatchTSTConfig()

CANDLE_TRAINING: dict[Architecture, TrainingConfig] = {
    "nhits": TrainingConfig(max_epochs=12, batch_size=256, learning_rate=1e-3, patience=3),
    "patchtst": TrainingConfig(
        max_epochs=15, batch_size=256, learning_rate=1e-3, patience=3, window_stride=2
    ),
}


@dataclass(frozen=True, slots=True)
class CloseSeries:
    """One symbol's closes with their open times (epoch ms)."""

    symbol: str
    open_time: np.ndarray
    close: np.ndarray

    @classmethod
    def from_candles(cls, candles: Candles) -> CloseSeries:
        """The closes of a checked feature-pipeline series (as the market data readers return)."""
        return cls(candles.symbol, candles.open_time, candles.close)

    def tail(self, rows: int) -> CloseSeries:
        return CloseSeries(self.symbol, self.open_time[-rows:], self.close[-rows:])


def candle_forecaster(
    architecture: Architecture,
    horizon: int,
    training: TrainingConfig | None = None,
    input_size: int = INPUT_SIZE,
) -> Forecaster:
    train_cfg = training or CANDLE_TRAINING[architecture]
    if architecture == "nhits":
        return Forecaster.nhits(
            input_size,
            horizon,
            quantiles=CANDLE_QUANTILES,
            subtract_last=True,
            training=train_cfg,
            **asdict(CANDLE_NHITS),
        )
    return Forecaster.patchtst(
        input_size,
        horizon,
        quantiles=CANDLE_QUANTILES,
        subtract_last=True,
        training=train_cfg,
        **asdict(CANDLE_PATCHTST),
    )


def train_candle_forecaster(
    architecture: Architecture,
    series: Sequence[CloseSeries],
    labels: LabelSpec,
    *,
    epochs: int | None = None,
    seed: int | None = None,
    progress: bool = True,
    version: str = "",
    scope: str | None = None,
    calibration_share: float = held_out.CALIBRATION_SHARE,
    training: Mapping[str, Any] | None = None,
    initial: Forecaster | None = None,
    fit_days: int = 0,
) -> tuple[Forecaster, ModelMetadata]:
    """Train on the log closes of ``series``; return the model and its lineage metadata.

    ``scope`` names the model line (default: the symbol when one series is given, else
    "global"); the main job's forecasters are always the global line, whatever the symbols.
    The newest ``calibration_share`` of each series is held out: the network is fitted on the
    heads and calibrated on the tails (``held_out.py``); with series too short for that it is
    fitted on all of them and stays uncalibrated. ``training`` overrides fields of the
    architecture's :class:`TrainingConfig` (e.g. ``learning_rate``); ``initial`` is a trained
    forecaster of the same spec to start from (a warm start, recorded in the lineage as
    ``warm_start``; its calibration is not reused: the new one is fitted on the new tails).
    ``fit_days`` > 0 fits the network on the newest ``fit_days`` of each head only (a warm
    start's recent window, :func:`recent_start`); the calibration tails stay the same."""
    if not series:
        raise DataError("train_candle_forecaster: no series given")
    train_cfg = CANDLE_TRAINING[architecture]
    changes: dict[str, object] = {**(training or {}), "progress": progress}
    if epochs is not None:
        changes["max_epochs"] = epochs
    if seed is not None:
        changes["seed"] = seed
    train_cfg = replace(train_cfg, **changes)  # type: ignore[arg-type]
    model = candle_forecaster(architecture, labels.horizon, train_cfg)
    held = held_out.plan(
        [len(s.close) for s in series], model.spec.input_size, labels.horizon, calibration_share
    )
    cuts = held.cuts if held is not None else tuple(len(s.close) for s in series)
    starts = [
        recent_start(s.open_time[:cut], fit_days, 3 * (model.spec.input_size + labels.horizon))
        for s, cut in zip(series, cuts, strict=True)
    ]
    heads = [np.log(s.close[a:cut]) for s, a, cut in zip(series, starts, cuts, strict=True)]
    result = model.fit(heads, initial=initial)
    calibration: dict[str, list[float]] = {}
    held_metrics: dict[str, float] = {}
    if held is not None:
        scaling, held_metrics = held_out.calibrate(
            model, [s.close for s in series], held, labels, CANDLE_QUANTILES
        )
        calibration = scaling.to_dict()
    data_hash = sha256_bytes(
        b"".join(s.symbol.encode() + s.open_time.tobytes() + s.close.tobytes() for s in series)
    )
    symbols = sorted({s.symbol for s in series})
    metadata = ModelMetadata(
        name=architecture,
        version=version or result.weights_hash[:12],
        scope=scope or (symbols[0] if len(symbols) == 1 else "global"),
        horizon=labels.horizon,
        features=("log_close",),
        hyperparameters={
            "spec": json_ready(model.spec.to_json()),
            "training": asdict(train_cfg),
            "dead_zone": labels.dead_zone,
            "symbols": symbols,
            # the weights it started from (None: from scratch); the trainer port adds the
            # registry version those weights were
            "warm_start": None if initial is None else _warm_lineage(initial, fit_days),
        },
        # the decision rows fitted on: the last is the one whose horizon ends at the last
        # close (its target), as a tabular member's last labelled row
        training_window=(
            int(min(s.open_time[a] for s, a in zip(series, starts, strict=True))),
            int(max(s.open_time[-1 - labels.horizon] for s in series)),
        ),
        data_hash=data_hash,
        metrics={
            "validation_pinball": result.best_validation_loss,
            # where training began: a warm start's first epoch is already near its best
            "first_epoch_validation_pinball": result.validation_losses[0],
            "best_epoch": float(result.best_epoch),
            "epochs_run": float(result.epochs_run),
            "train_seconds": result.seconds,
            **held_metrics,
        },
        calibration=calibration,
    )
    return model, metadata


def recent_start(open_time: np.ndarray, days: int, minimum: int) -> int:
    """The first row of a head's newest ``days`` (0: the whole head): rows that opened less than
    ``days`` days before its last row did, but never fewer than ``minimum`` rows (a fit needs
    windows to train and stop early on).

    >>> from quantum_trader.domain.time import MS_PER_DAY as D
    >>> hours = np.arange(0, 10 * D, D // 24)
    >>> recent_start(hours, 0, 10), recent_start(hours, 2, 10), recent_start(hours, 2, 100)
    (0, 192, 140)
    """
    if days <= 0 or len(open_time) == 0:
        return 0
    first = int(np.searchsorted(open_time, open_time[-1] - days * MS_PER_DAY, side="right"))
    return max(0, min(first, len(open_time) - minimum))


def _warm_lineage(initial: Forecaster, fit_days: int) -> dict[str, object]:
    lineage: dict[str, object] = {"weights": initial.weights_hash}
    if fit_days > 0:  # absent when the whole head was fitted, as before the option existed
        lineage["days"] = fit_days
    return lineage


def json_ready(text: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(text)
    return loaded


def save_candle_member(
    model: Forecaster, metadata: ModelMetadata, directory: Path
) -> ModelMetadata:
    """Save the artifact plus ``metadata.json`` (with the artifact hash); return the metadata."""
    digest = model.save(directory)
    final = replace(metadata, artifact_hash=digest)
    write_metadata(directory, final)
    return final
