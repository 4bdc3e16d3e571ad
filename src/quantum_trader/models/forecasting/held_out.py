"""Calibrating a candle forecaster on the newest part of its training series.

The forecaster is fitted on the head of each series; the decision rows of the tail (each with
its week of input closes, which may reach into the head, and its label ``horizon`` candles
later, inside the tail) are forecast by the fitted network, turned into DOWN / FLAT / UP
probabilities exactly as the serving member turns them (``direction_probabilities``), and a
vector scaling is fitted on them (``models/calibration.py``). No held-out label was a target of
the fit: every target of the head is a close of the head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from quantum_trader.features.labels import LabelSpec, classify_returns
from quantum_trader.models.calibration import VectorScaling, fit_vector_scaling
from quantum_trader.models.forecasting.api import Forecaster
from quantum_trader.models.forecasting.member import direction_probabilities
from quantum_trader.models.metrics import classification_metrics

#: the newest share of each series held out to calibrate on
CALIBRATION_SHARE = 0.2
#: fewer held-out rows than this (all series together): no calibration
MIN_CALIBRATION_ROWS = 200
#: windows per network call while forecasting the held-out rows
CHUNK = 1024


@dataclass(frozen=True, slots=True)
class HeldOut:
    cuts: tuple[int, ...]  # per series: the first held-out row (the head is [0, cut))

    def usable(self, lengths: Sequence[int], horizon: int) -> bool:
        rows = sum(max(n - horizon - cut, 0) for n, cut in zip(lengths, self.cuts, strict=True))
        return rows >= MIN_CALIBRATION_ROWS


def plan(lengths: Sequence[int], input_size: int, horizon: int, share: float) -> HeldOut | None:
    """Where each series' held-out tail starts; None when there is too little to hold out."""
    cuts = tuple(n - int(n * share) for n in lengths)
    if any(cut < 2 * (input_size + horizon) for cut in cuts):
        return None
    held = HeldOut(cuts)
    return held if held.usable(lengths, horizon) else None


def held_out_probabilities(
    model: Forecaster,
    closes: np.ndarray,
    cut: int,
    labels: LabelSpec,
    levels: Sequence[float],
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of the decision rows ``cut`` … ``len - horizon - 1``."""
    size, h = model.spec.input_size, labels.horizon
    rows = np.arange(cut, len(closes) - h)
    # the closes as the serving path sees them: rounded to float32 first
    windows = np.lib.stride_tricks.sliding_window_view(closes.astype(np.float32), size)
    log_close = np.log(windows[rows - size + 1].astype(np.float64))
    probs = np.empty((len(rows), 3))
    for start in range(0, len(rows), CHUNK):
        part = log_close[start : start + CHUNK]
        forecast = model.predict_batch(part[:, :, None].astype(np.float32))
        step = forecast[:, h - 1, 0, :].astype(np.float64)
        quantiles = np.expm1(step - part[:, -1:])
        for i, q in enumerate(quantiles.tolist(), start=start):
            probs[i] = direction_probabilities(levels, q, labels.dead_zone)
    truth = classify_returns(closes[rows + h] / closes[rows] - 1.0, labels.dead_zone)
    return probs, truth


def calibrate(
    model: Forecaster,
    closes: Sequence[np.ndarray],
    held: HeldOut,
    labels: LabelSpec,
    levels: Sequence[float],
) -> tuple[VectorScaling, dict[str, float]]:
    """The vector scaling of the held-out rows of every series, with their log-loss, Brier
    and ECE before (``holdout_*_raw``) and after (``holdout_*``)."""
    parts = [
        held_out_probabilities(model, c, cut, labels, levels)
        for c, cut in zip(closes, held.cuts, strict=True)
    ]
    probs = np.concatenate([p for p, _ in parts])
    truth = np.concatenate([y for _, y in parts])
    scaling = fit_vector_scaling(probs, truth)
    before = classification_metrics(truth, probs)
    after = classification_metrics(truth, scaling.apply(probs))
    metrics: dict[str, float] = {}
    for key in ("log_loss", "brier", "ece"):
        metrics[f"holdout_{key}_raw"], metrics[f"holdout_{key}"] = before[key], after[key]
    return scaling, metrics
