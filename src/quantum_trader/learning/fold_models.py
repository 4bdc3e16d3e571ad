"""How each kind of member is trained on one walk-forward fold and scored on its test rows.

One function per model kind; each family of :data:`~quantum_trader.learning.trainers.FAMILIES`
holds its own (``ModelFamily.fold``), so the walk-forward loop never branches on the kind. Every
function gets the same :class:`FoldData` (the fold's train and
test rows plus the symbol's full candle series) and returns class probabilities for exactly the
test rows, with the open times it scored and the span of candles it was fitted on — the evidence
that every model is scored on the same rows and never trained on a test candle.

* tabular (xgb, lgbm): fit on the train rows' features and labels, predict the test rows.
* forecasters (nhits, patchtst): fit on the closes from ``input_size - 1`` candles before the
  first train row up to the last candle the train rows' labels read (train end + horizon - 1,
  the candle just before the first test row: the same purge as the tabular labels), save the
  artifact, load it through the serving path (:class:`ForecastMember`, ONNX Runtime) and predict
  from the close windows that end at each test row's candle. Candles before a test row are its
  past, so a window may reach back into the train span; no window reaches a later candle.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantum_trader.domain.errors import DataError
from quantum_trader.features.dataset import Dataset
from quantum_trader.features.series import CandleSeries, FloatArray, IntArray
from quantum_trader.models.forecasting.spec import Architecture
from quantum_trader.models.tabular.base import TabularModel
from quantum_trader.models.tabular.training import train_tabular


@dataclass(frozen=True, slots=True)
class FoldData:
    train: Dataset
    test: Dataset
    candles: CandleSeries | None  # the symbol's full series; forecasters need it
    params: dict[str, object]  # hyperparameter overrides for the tabular members
    forecast_epochs: int | None  # None: each forecaster's default schedule
    seed: int


@dataclass(frozen=True, slots=True)
class FoldPrediction:
    proba: FloatArray  # (n_test, 3): p_down, p_flat, p_up
    scored_open_time: IntArray  # open time of the candle each prediction was made at
    trained_on: tuple[int, int]  # first and last candle open time whose data the model fitted
    #: the same rows' probabilities before calibration (None: the model has no calibration)
    uncalibrated: FloatArray | None = None


FoldModel = Callable[[FoldData], FoldPrediction]


def tabular_fold(cls: type[TabularModel]) -> FoldModel:
    """Fit a ``cls`` member on the fold's train rows, predict its test rows."""

    def fold_model(fold: FoldData) -> FoldPrediction:
        model = train_tabular(cls, fold.train, params=dict(fold.params))
        trained_on = (int(fold.train.open_time[0]), _label_end(fold))
        proba = model.predict_proba(fold.test.x)
        raw = (
            None if model.calibration.is_identity else model.predict_proba_uncalibrated(fold.test.x)
        )
        return FoldPrediction(proba, fold.test.open_time.copy(), trained_on, raw)

    return fold_model


def _label_end(fold: FoldData) -> int:
    """Open time of the last candle the train labels read: ``horizon`` after the last row."""
    horizon, last = fold.train.label_spec.horizon, fold.train.open_time[-1:]
    if fold.candles is not None:
        return int(fold.candles.open_time[candle_index(fold.candles, last)[0] + horizon])
    step = int(np.diff(fold.train.open_time).min()) if len(fold.train) > 1 else 0
    return int(last[0]) + horizon * step


def forecast_fold(name: Architecture) -> FoldModel:
    """Fit the forecaster ``name`` on the fold's closes, score its test rows (serving path)."""
    return lambda fold: _forecast_fold(name, fold)


def _forecast_fold(name: Architecture, fold: FoldData) -> FoldPrediction:
    # torch is imported only when a forecaster is actually evaluated
    from quantum_trader.models.forecasting import candles as forecasting
    from quantum_trader.models.forecasting.member import ForecastMember

    series = fold.candles
    if series is None:
        raise ValueError(f"{name}: forecasters need the symbol's candle series (candles=None)")
    labels = fold.train.label_spec
    size = forecasting.INPUT_SIZE
    first, last = candle_index(series, fold.train.open_time[[0, -1]])
    start, stop = first - (size - 1), last + labels.horizon + 1
    if start < 0:
        raise DataError(
            f"{series.symbol} {name}: the first train row needs {size - 1} earlier candles, "
            f"only {first} exist"
        )
    train_series = forecasting.CloseSeries.from_candles(series.slice(start, stop))
    model, metadata = forecasting.train_candle_forecaster(
        name,
        [train_series],
        labels,
        epochs=fold.forecast_epochs,
        seed=fold.seed,
        progress=False,
    )
    at = candle_index(series, fold.test.open_time)
    if at[0] - (size - 1) < 0:
        raise DataError(f"{series.symbol} {name}: the first test row has too little history")
    windows = np.lib.stride_tricks.sliding_window_view(series.close, size)[at - (size - 1)]
    with tempfile.TemporaryDirectory(prefix=f"wf-{name}-") as tmp:
        saved = forecasting.save_candle_member(model, metadata, Path(tmp))
        member = ForecastMember.load(Path(tmp), labels, expected_hash=saved.artifact_hash)
        proba = member.predict_proba(windows)
        raw = None
        if member.metadata.calibration:  # the same network without its calibration, beside
            bare = dataclasses.replace(member.metadata, calibration={})
            raw = ForecastMember(member.model, bare, labels).predict_proba(windows)
    window = member.metadata.training_window
    if window is None:
        raise DataError(f"{series.symbol} {name}: the saved member has no training window")
    # the lineage names the last decision row fitted; its target is ``horizon`` candles later
    target = candle_index(series, np.array([window[1]]))[0] + labels.horizon
    trained_on = (window[0], int(series.open_time[target]))
    return FoldPrediction(proba, series.open_time[at].copy(), trained_on, raw)


def candle_index(series: CandleSeries | None, open_time: IntArray) -> IntArray:
    """Positions of ``open_time`` in ``series``; every one must be a candle of the series."""
    if series is None:
        raise ValueError("no candle series given")
    at = np.searchsorted(series.open_time, open_time)
    inside = at < len(series.open_time)
    if not inside.all() or not (series.open_time[at] == open_time).all():
        raise DataError(
            f"{series.symbol}: dataset rows with open times that are not candles of the series "
            f"(first {open_time[0]}); pass the same candles the dataset was made from"
        )
    return at
