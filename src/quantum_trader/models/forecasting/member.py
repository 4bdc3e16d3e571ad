"""Forecasting models as ensemble members: a forward-return forecast → DOWN / FLAT / UP.

The candle forecasters see the log close over the last ``input_size`` candles (RevIN centres it
on the last value and scales by the window's std, i.e. the model sees the normalised cumulative
log-return path) and predict quantiles of the log close ``1..h`` steps ahead, trained with the
pinball loss. Quantiles map through any monotone function, so the forward return's quantiles are
exactly ``exp(q_h - log close_t) - 1`` — the same return :mod:`quantum_trader.features.labels`
defines. A piecewise-linear CDF through those quantiles gives
``P(r < -dead_zone)``, ``P(|r| <= dead_zone)`` and ``P(r > dead_zone)``, so these members vote
on the same three classes as the tabular ones.

Torch-free: this module serves through :class:`~quantum_trader.models.forecasting.serving.OnnxForecaster`.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from quantum_trader.domain.errors import ArtifactIntegrityError, DataError
from quantum_trader.domain.signals import ModelVote
from quantum_trader.features.labels import LabelSpec
from quantum_trader.models.base import FloatArray, ModelMetadata
from quantum_trader.models.calibration import VectorScaling
from quantum_trader.models.ensemble.loading import MemberLoader
from quantum_trader.models.ensemble.member import (
    Abstention,
    BatchVotes,
    BatchWork,
    Member,
    VoteContext,
    no_batch_votes,
)
from quantum_trader.models.forecasting.memo import QuantileMemo
from quantum_trader.models.forecasting.serving import OnnxForecaster
from quantum_trader.models.forecasting.windows import check_window
from quantum_trader.status import ModuleHandle

METADATA_FILE = "metadata.json"

#: quantile levels of the candle members: dense near the median, where ±dead_zone falls.
CANDLE_QUANTILES: tuple[float, ...] = (
    0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98,
)  # fmt: skip


def quantile_cdf(levels: Sequence[float], values: Sequence[float], at: float) -> float:
    """P(X <= at) from quantiles: piecewise linear between knots, linear tails clipped to [0, 1].

    Crossed quantiles are sorted first (the network does not enforce monotonicity). Plain
    float arithmetic on the 13 knots — the operations ``np.interp`` does between knots, and
    the same tails — at a quarter of numpy's cost on such short arrays; the tests hold it
    to numpy's answer.

    >>> quantile_cdf(np.array([0.25, 0.5, 0.75]), np.array([-1.0, 0.0, 1.0]), 0.5)
    0.625
    >>> quantile_cdf(np.array([0.25, 0.5, 0.75]), np.array([-1.0, 0.0, 1.0]), -5.0)
    0.0
    """
    q = sorted(map(float, values))
    if at <= q[0] or at >= q[-1]:
        low = at <= q[0]
        i, j = (0, 1) if low else (len(q) - 2, len(q) - 1)
        span = q[j] - q[i]
        slope = (levels[j] - levels[i]) / span if span > 0 else math.inf
        edge = levels[i] + (at - q[i]) * slope if low else levels[j] + (at - q[j]) * slope
        if math.isnan(edge):  # a flat tail (0 * inf): no information either way
            return 0.5
        return 0.0 if edge <= 0.0 else 1.0 if edge >= 1.0 else float(edge)
    j = bisect_right(q, at) - 1  # q[j] <= at < q[j + 1]
    if q[j] == at:
        return float(levels[j])
    slope = (levels[j + 1] - levels[j]) / (q[j + 1] - q[j])
    return float(slope * (at - q[j]) + levels[j])


def direction_probabilities(
    levels: Sequence[float], return_quantiles: Sequence[float], dead_zone: float
) -> tuple[float, float, float]:
    """(p_down, p_flat, p_up) of the forward return under the label dead zone.

    >>> direction_probabilities(np.array([0.1, 0.5, 0.9]), np.array([-0.02, 0.0, 0.02]), 0.001)
    (0.48, 0.04, 0.48)
    """
    below = quantile_cdf(levels, return_quantiles, -dead_zone)
    not_above = quantile_cdf(levels, return_quantiles, dead_zone)
    p_down, p_up = below, 1.0 - not_above
    p_flat = max(not_above - below, 0.0)
    total = p_down + p_flat + p_up
    return (round(p_down / total, 12), round(p_flat / total, 12), round(p_up / total, 12))


#: windows per model call in :meth:`ForecastMember.batch_work` (bounds the batch's memory)
BATCH_CHUNK = 256


class ForecastMember:
    """A saved candle forecaster voting DOWN / FLAT / UP (serving path, no torch).

    Not a :class:`~quantum_trader.models.base.DirectionModel`: that protocol trains on
    (features, labels) rows, while a forecaster trains on the series itself
    (:func:`~quantum_trader.models.forecasting.candles.train_candle_forecaster`). It offers the
    serving half — ``name``, ``metadata``, ``predict_proba`` — and ``vote``.
    """

    def __init__(
        self,
        model: OnnxForecaster,
        metadata: ModelMetadata,
        labels: LabelSpec,
        status: ModuleHandle | None = None,
    ) -> None:
        spec = model.spec
        if spec.n_channels != 1 or len(spec.quantiles) < 3:
            raise ValueError(
                f"ForecastMember: needs a 1-channel quantile forecaster (>= 3 levels), got "
                f"n_channels={spec.n_channels}, quantiles={spec.quantiles}"
            )
        if labels.horizon > spec.horizon:
            raise ValueError(
                f"ForecastMember: label horizon {labels.horizon} is beyond the forecast "
                f"horizon {spec.horizon}"
            )
        self.model = model
        self.name = metadata.name
        self.labels = labels
        self._metadata = metadata
        self._status = status
        self._levels = tuple(float(q) for q in spec.quantiles)
        self._calibration = VectorScaling.from_dict(metadata.calibration)
        #: quantiles already computed, by window (``memo.py``): None but where a process sets
        #: one (the PPO training daemon's worker)
        self.memo: QuantileMemo | None = None

    def _probabilities(self, quantiles: Sequence[float]) -> tuple[float, float, float]:
        """DOWN / FLAT / UP from return quantiles, through the member's calibration."""
        p = direction_probabilities(self._levels, quantiles, self.labels.dead_zone)
        if self._calibration.is_identity:
            return p
        down, flat, up = self._calibration.apply(np.asarray(p)).tolist()
        return (float(down), float(flat), float(up))

    @classmethod
    def load(
        cls,
        directory: Path,
        labels: LabelSpec | None = None,
        status: ModuleHandle | None = None,
        expected_hash: str | None = None,
    ) -> ForecastMember:
        model = OnnxForecaster(directory, expected_hash)
        raw = json.loads((directory / METADATA_FILE).read_text())
        raw["features"] = tuple(raw["features"])
        if raw["training_window"] is not None:
            raw["training_window"] = tuple(raw["training_window"])
        metadata = ModelMetadata(**raw)
        if metadata.artifact_hash and metadata.artifact_hash != model.artifact_hash:
            raise ArtifactIntegrityError(
                f"{directory}: metadata artifact_hash {metadata.artifact_hash} does not match "
                f"the artifact's {model.artifact_hash}"
            )
        return cls(model, metadata, labels or LabelSpec(horizon=metadata.horizon), status)

    @property
    def metadata(self) -> ModelMetadata:
        return self._metadata

    @property
    def input_size(self) -> int:
        return self.model.spec.input_size

    def return_quantiles(self, closes: FloatArray) -> FloatArray:
        """Quantiles of ``close[t+h]/close[t]-1`` from closes ending at t (last ``input_size`` used)."""
        where = f"{self.name} window"
        window = check_window(closes, self.input_size, 1, where)[0, :, 0].astype(np.float64)
        if (window <= 0).any():
            raise DataError(f"{where}: close prices must be > 0, got min {window.min()}")
        quantiles: FloatArray = self._quantiles(window[None, :])[0]
        return quantiles

    def _quantiles(self, closes: FloatArray) -> FloatArray:
        """Checked closes (n, input_size), already rounded to float32 as the model's input is →
        (n, Q) return quantiles: the one computation of the live path and the batch votes."""
        log_close = np.log(closes.astype(np.float64))
        forecast = self.model.predict_batch(log_close[:, :, None].astype(np.float32))
        step = forecast[:, self.labels.horizon - 1, 0, :].astype(np.float64)
        returns: FloatArray = np.expm1(step - log_close[:, -1:])
        return returns

    def predict_proba(self, windows: FloatArray) -> FloatArray:
        """Rows of closes (n, >= input_size) → rows of [p_down, p_flat, p_up]."""
        rows = np.atleast_2d(np.asarray(windows, dtype=np.float64))
        out = np.empty((rows.shape[0], 3), dtype=np.float64)
        for i, row in enumerate(rows):
            out[i] = self._probabilities(self.return_quantiles(row).tolist())
        return out

    def batch_work(self, symbol: str, windows: Sequence[FloatArray]) -> BatchWork:
        """The votes :meth:`vote` would give for each window, from one model call per chunk,
        in two steps (see :class:`BatchWork`): the windows are checked and stacked here, the
        model runs in ``compute``, the votes are made in ``finish``.

        A window :meth:`vote` would refuse (short, non-finite, non-positive) gets None;
        the live path then decides what to do with it. Equal to :meth:`vote` bit for bit (see
        :meth:`OnnxForecaster.predict_batch`); tests/app/test_batch_votes.py checks it.
        """
        if self.metadata.scope not in ("global", symbol):
            raise DataError(f"{self.name} was trained for {self.metadata.scope}, not {symbol}")
        size, n = self.input_size, len(windows)
        # the same float32 rounding of the closes as check_window gives the live path
        tails = {i: np.asarray(w[-size:]).astype(np.float32) for i, w in enumerate(windows)}
        usable = [
            i for i, t in tails.items() if len(t) == size and np.isfinite(t).all() and (t > 0).all()
        ]
        if not usable:
            return no_batch_votes(n)
        memo = self.memo  # rows computed before, by window: only the others are computed
        keys: dict[int, bytes] = {}
        known: dict[int, FloatArray] = {}
        if memo is not None:
            keys = {i: tails[i].tobytes() for i in usable}
            known = {i: row for i, key in keys.items() if (row := memo.get(key)) is not None}
        missing = [i for i in usable if i not in known]
        chunks = [
            missing[start : start + BATCH_CHUNK] for start in range(0, len(missing), BATCH_CHUNK)
        ]
        inputs: list[Any] = [np.stack([tails[i] for i in chunk]) for chunk in chunks]

        def compute() -> list[FloatArray]:
            return [self._quantiles(closes) for closes in inputs]

        def finish(quantiles: list[FloatArray]) -> BatchVotes:
            votes: BatchVotes = [None] * n
            for i, row in known.items():
                votes[i] = ModelVote(self.name, *self._probabilities(row.tolist()))
            for chunk, rows in zip(chunks, quantiles, strict=True):
                for i, row in zip(chunk, rows, strict=True):
                    votes[i] = ModelVote(self.name, *self._probabilities(row.tolist()))
                    if memo is not None:
                        memo.put(keys[i], row.copy())
            if self._status is not None:
                self._status.count("predictions", len(usable))
            return votes

        return BatchWork(compute, finish)

    def vote(self, symbol: str, closes: FloatArray) -> ModelVote:
        """This member's vote for ``symbol`` from its recent closes; refusals are counted."""
        if self.metadata.scope not in ("global", symbol):
            raise DataError(f"{self.name} was trained for {self.metadata.scope}, not {symbol}")
        try:
            q = self.return_quantiles(closes)
        except DataError:
            if self._status is not None:
                self._status.count("refused_windows")
            raise
        p_down, p_flat, p_up = self._probabilities(q.tolist())
        if self._status is not None:
            self._status.count("predictions")
        return ModelVote(self.name, p_down, p_flat, p_up)


def write_metadata(directory: Path, metadata: ModelMetadata) -> None:
    (directory / METADATA_FILE).write_text(json.dumps(asdict(metadata), indent=2, sort_keys=True))


class ForecastVoter:
    """A :class:`ForecastMember` behind the ensemble's member interface.

    It reads the context's history window (closes, oldest first) and abstains — saying why —
    while the window is not full or is refused; it never votes on a partial window.
    """

    def __init__(self, member: ForecastMember) -> None:
        self.name = member.name
        self.member = member

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        window = context.window
        if window is None or len(window) < self.member.input_size:
            return Abstention(self.name, f"history window below {self.member.input_size} closes")
        try:
            return self.member.vote(symbol, window)
        except DataError as exc:
            return Abstention(self.name, f"window refused: {exc}")

    def batch_work(self, symbol: str, contexts: Sequence[VoteContext]) -> BatchWork:
        """Batch votes for a replay's contexts; None where only :meth:`vote` can answer."""
        windows = [c.window if c.window is not None else _EMPTY for c in contexts]
        return self.member.batch_work(symbol, windows)


_EMPTY: FloatArray = np.empty(0)


def forecast_loader(labels: LabelSpec) -> MemberLoader:
    """Loader of saved candle forecasters for :func:`~quantum_trader.models.ensemble.loading.load_member`."""

    def load(directory: Path, handle: ModuleHandle | None) -> Member:
        return ForecastVoter(ForecastMember.load(directory, labels, status=handle))

    return load
