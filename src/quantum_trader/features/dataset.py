"""Features and labels side by side, for training and evaluation.

Labels use data after t (the forward return), features only data up to t; they meet only here,
in a record that keeps them in separate arrays. Rows before the feature warm-up are dropped; the
last ``horizon`` rows keep their features and a NaN label (models drop them when fitting).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from quantum_trader.features.labels import LabelSpec, direction_labels, forward_returns
from quantum_trader.features.pipeline import FeatureConfig, compute_features
from quantum_trader.features.series import CandleSeries, FloatArray, FundingSeries, IntArray


@dataclass(frozen=True, slots=True)
class Dataset:
    symbol: str
    timeframe: str
    names: tuple[str, ...]
    open_time: IntArray
    x: FloatArray
    y: FloatArray  # class labels 0/1/2, NaN where the horizon runs past the data
    forward_return: FloatArray
    label_spec: LabelSpec

    def __len__(self) -> int:
        return len(self.open_time)

    def rows(self, start: int, stop: int) -> Dataset:
        return Dataset(
            self.symbol,
            self.timeframe,
            self.names,
            self.open_time[start:stop],
            self.x[start:stop],
            self.y[start:stop],
            self.forward_return[start:stop],
            self.label_spec,
        )

    def content_hash(self) -> str:
        """sha256 of features and labels (lineage: same rows → same hash)."""
        digest = hashlib.sha256(f"{self.symbol}|{self.timeframe}|{self.names}".encode())
        for array in (self.open_time, self.x, self.y):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


def make_dataset(
    candles: CandleSeries,
    funding: FundingSeries | None = None,
    market: CandleSeries | None = None,
    *,
    labels: LabelSpec | None = None,
    config: FeatureConfig | None = None,
) -> Dataset:
    spec = labels or LabelSpec()
    features = compute_features(candles, funding, market, config)
    y = direction_labels(candles.close, spec)
    fwd = forward_returns(candles.close, spec.horizon)
    keep = features.complete
    return Dataset(
        candles.symbol,
        candles.timeframe,
        features.names,
        candles.open_time[keep],
        features.values[keep],
        y[keep],
        fwd[keep],
        spec,
    )
