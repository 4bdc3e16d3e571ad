"""History windows: building training pairs and checking a serving window (numpy only).

A window with NaN or too little history is refused with :class:`DataError`; a forecast is never
made from a silently padded or zero-filled window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantum_trader.domain.errors import DataError

Float32Array = npt.NDArray[np.float32]
SeriesInput = npt.ArrayLike | pd.DataFrame | pd.Series


class WindowPairs(NamedTuple):
    """Inputs ``x`` (n, input_size, C) and targets ``y`` (n, horizon, C), time-ordered."""

    x: Float32Array
    y: Float32Array


def as_matrix(series: SeriesInput, where: str) -> npt.NDArray[np.float64]:
    """A series as a (time, channels) float64 matrix; 1-D input is one channel."""
    values = series.to_numpy() if isinstance(series, pd.DataFrame | pd.Series) else series
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2:
        raise DataError(f"{where}: expected a (time, channels) series, got shape {matrix.shape}")
    return matrix


def check_window(window: SeriesInput, input_size: int, n_channels: int, where: str) -> Float32Array:
    """The last ``input_size`` rows of ``window`` as float32 (1, input_size, C), or DataError.

    >>> check_window(np.arange(5.0), 3, 1, "demo").shape
    (1, 3, 1)
    >>> check_window(np.arange(2.0), 3, 1, "demo")
    Traceback (most recent call last):
    ...
    quantum_trader.domain.errors.DataError: demo: window has 2 rows, the model needs input_size=3
    """
    matrix = as_matrix(window, where)
    if matrix.shape[1] != n_channels:
        raise DataError(
            f"{where}: window has {matrix.shape[1]} channels, the model was trained on {n_channels}"
        )
    if matrix.shape[0] < input_size:
        raise DataError(
            f"{where}: window has {matrix.shape[0]} rows, the model needs input_size={input_size}"
        )
    tail = matrix[-input_size:]
    bad = ~np.isfinite(tail)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"{where}: window has {int(bad.sum())} non-finite value(s), first at row "
            f"{int(row) - input_size} (from the end), channel {int(col)}: {tail[row, col]}"
        )
    return tail.astype(np.float32)[None]


def window_pairs(
    series: npt.NDArray[np.float64], input_size: int, horizon: int, stride: int = 1
) -> WindowPairs:
    """Every (input, target) pair of one (time, C) series; pairs touching a NaN are dropped."""
    span = input_size + horizon
    if series.shape[0] < span:
        empty = np.empty((0, input_size, series.shape[1]), dtype=np.float32)
        return WindowPairs(empty, np.empty((0, horizon, series.shape[1]), dtype=np.float32))
    view = np.lib.stride_tricks.sliding_window_view(series, span, axis=0)[::stride]
    view = np.moveaxis(view, -1, 1)  # (n, span, C)
    finite = np.isfinite(view).all(axis=(1, 2))
    kept: Float32Array = view[finite].astype(np.float32)
    return WindowPairs(np.ascontiguousarray(kept[:, :input_size]), kept[:, input_size:].copy())


class SplitPairs(NamedTuple):
    train: WindowPairs
    validation: WindowPairs


def time_split(
    series_list: Sequence[npt.NDArray[np.float64]],
    input_size: int,
    horizon: int,
    validation_fraction: float,
    stride: int = 1,
) -> SplitPairs:
    """Split each series in time: the last ``validation_fraction`` of its rows is validation.

    Training targets end before the first validation target starts, so no label is shared.
    ``stride`` thins the training windows only; validation uses every window.
    """
    train_x: list[Float32Array] = []
    train_y: list[Float32Array] = []
    val_x: list[Float32Array] = []
    val_y: list[Float32Array] = []
    for series in series_list:
        n_rows = series.shape[0]
        cut = round(n_rows * (1.0 - validation_fraction))  # first validation target row
        train = window_pairs(series[:cut], input_size, horizon, stride)
        val_start = max(cut - input_size, 0)
        val = window_pairs(series[val_start:], input_size, horizon)
        train_x.append(train.x)
        train_y.append(train.y)
        val_x.append(val.x)
        val_y.append(val.y)
    return SplitPairs(
        WindowPairs(np.concatenate(train_x), np.concatenate(train_y)),
        WindowPairs(np.concatenate(val_x), np.concatenate(val_y)),
    )
