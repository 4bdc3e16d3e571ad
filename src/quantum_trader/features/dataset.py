"""Features and labels side by side, for training and evaluation.

Labels use data after t (the forward return, or the barrier path), features only data up to t;
they meet only here, in a record that keeps them in separate arrays. Rows before the feature
warm-up are dropped; the last ``horizon`` rows keep their features and a NaN label (models drop
them when fitting). Every other row has a label: under the triple-barrier label (``LabelSpec.kind
== "barrier"``) the rows without one because σ is not estimated yet (its first ``vol_span``
candles) or is 0 are dropped too, so that the labelled rows stay a prefix (the walk-forward
checks it).

Purging: the walk-forwards and the trainings purge the ``horizon`` rows before a test or
held-out window, the sign label's reach. A barrier label ends at or before ``t + horizon`` (its
vertical barrier), so that purge is conservative for it too, and stays (a purge by each label's
real end, ``BarrierLabels.spans``, would keep more rows).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from quantum_trader.domain.errors import DataError
from quantum_trader.features.labels import LabelSpec, direction_labels, forward_returns
from quantum_trader.features.pipeline import FeatureConfig, FeatureMatrix, compute_features
from quantum_trader.features.series import CandleSeries, FloatArray, FundingSeries, IntArray
from quantum_trader.features.triple_barrier import triple_barrier_labels


@dataclass(frozen=True, slots=True)
class Dataset:
    symbol: str
    timeframe: str
    names: tuple[str, ...]
    open_time: IntArray
    x: FloatArray
    y: FloatArray  # class labels 0/1/2 of label_spec, NaN where the horizon runs past the data
    forward_return: FloatArray  # close[t + horizon] / close[t] - 1, whatever the label's kind
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
    features: FeatureMatrix | None = None,
) -> Dataset:
    """``candles``' dataset; ``features``, when given, are its feature rows computed already
    (the universe features are computed for every symbol at once, ``compute_universe_features``)
    and ``funding``, ``market`` and ``config`` are not read."""
    spec = labels or LabelSpec()
    if features is None:
        features = compute_features(candles, funding, market, config)
    elif not np.array_equal(features.open_time, candles.open_time):
        raise DataError(f"make_dataset({candles.symbol}): the features are of other candles")
    y = candle_labels(candles, spec)
    fwd = forward_returns(candles.close, spec.horizon)
    keep = features.complete
    if spec.kind == "barrier":  # no σ yet (or none): no label, and no row (module docstring)
        keep = keep & ~(np.isnan(y) & (np.arange(len(y)) < len(y) - spec.horizon))
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


def candle_labels(candles: CandleSeries, spec: LabelSpec) -> FloatArray:
    """The class label of every candle under ``spec`` (NaN where none): the sign of the forward
    return from the closes, or the triple barrier from the whole candles (highs and lows)."""
    if spec.kind == "barrier":
        return triple_barrier_labels(candles, spec.barrier_spec()).label
    return direction_labels(candles.close, spec)
