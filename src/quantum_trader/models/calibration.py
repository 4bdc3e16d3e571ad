"""Calibrating a member's DOWN / FLAT / UP probabilities on rows it was not fitted on.

Vector scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks"): the calibrated
probabilities are ``softmax(w ⊙ log p + b)`` with one weight and one bias per class, fitted by
minimising the log-loss of held-out rows. It is the three-class form of Platt scaling: six
numbers, so a few hundred held-out rows fit it without the over-fitting of isotonic regression
(which needs a monotone map per class and renormalisation, and thousands of rows), and it keeps
the order of a row's probabilities when the weights are equal. ``w = 1, b = 0`` is the
identity: what a member trained before calibration existed serves.

Applying it is a few numpy operations per row (serving stays torch-free and cheap); fitting it
uses scipy's L-BFGS with a small pull towards the identity, so that a held-out set with one
class nearly absent cannot send a bias to infinity.

>>> probs = np.array([[0.1, 0.1, 0.8], [0.7, 0.2, 0.1]])
>>> IDENTITY.apply(probs).round(6).tolist() == probs.tolist()
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax

from quantum_trader.domain.errors import DataError
from quantum_trader.models.base import FloatArray

#: floor on a probability before its log is taken (a booster can emit exact zeros)
FLOOR = 1e-9
#: the pull of the fitted parameters towards the identity (per held-out row)
RIDGE = 1e-3


@dataclass(frozen=True, slots=True)
class VectorScaling:
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    bias: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        values = (*self.weights, *self.bias)
        if len(self.weights) != 3 or len(self.bias) != 3 or not np.all(np.isfinite(values)):
            raise DataError(f"calibration: needs 3 finite weights and biases, got {self}")

    @property
    def is_identity(self) -> bool:
        return self == IDENTITY

    def apply(self, probs: FloatArray) -> FloatArray:
        """Calibrated rows (one row or a matrix of rows), each summing to 1."""
        if self.is_identity:
            return probs
        logits = np.log(np.clip(probs, FLOOR, 1.0)) * np.asarray(self.weights)
        logits = logits + np.asarray(self.bias)
        out: FloatArray = np.exp(_log_softmax(logits))
        return out

    def to_dict(self) -> dict[str, list[float]]:
        return {"weights": list(self.weights), "bias": list(self.bias)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> VectorScaling:
        """The calibration an artifact recorded (none recorded: the identity)."""
        if not raw:
            return IDENTITY
        w, b = raw.get("weights"), raw.get("bias")
        if not isinstance(w, list | tuple) or not isinstance(b, list | tuple):
            raise DataError(f"calibration: weights and bias must be lists, got {dict(raw)}")
        return cls((float(w[0]), float(w[1]), float(w[2])), (float(b[0]), float(b[1]), float(b[2])))


IDENTITY = VectorScaling()


def _log_softmax(x: FloatArray) -> FloatArray:
    """``scipy.special.log_softmax(x, axis=-1)`` for a numpy array, with the same operations in
    the same order (the same floats: tests hold them bit for bit), without scipy's array-API
    dispatch, ~15 µs of each live vote."""
    x_max = np.max(x, axis=-1, keepdims=True)
    x_max[~np.isfinite(x_max)] = 0
    tmp = x - x_max
    s = np.sum(np.exp(tmp), axis=-1, keepdims=True)
    out: FloatArray = tmp - np.log(s)
    return out


def fit_vector_scaling(probs: FloatArray, y: FloatArray) -> VectorScaling:
    """The vector scaling that minimises the held-out rows' log-loss (``y``: 0, 1 or 2)."""
    p = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(y, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) != len(labels):
        raise DataError(f"calibration: {p.shape} probabilities for {len(labels)} labels")
    keep = ~np.isnan(labels)
    p, idx = p[keep], labels[keep].astype(np.int64)
    if len(idx) == 0:
        raise DataError("calibration: no labelled held-out rows")
    logp = np.log(np.clip(p, FLOOR, 1.0))
    onehot = np.eye(3)[idx]
    start = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:3], theta[3:]
        ls = log_softmax(logp * w + b, axis=1)
        residual = np.exp(ls) - onehot  # d(-log p_true)/d logits
        grad_w = (residual * logp).mean(axis=0)
        grad_b = residual.mean(axis=0)
        pull = theta - start
        value = float(-(ls * onehot).sum(axis=1).mean() + RIDGE * (pull @ pull))
        return value, np.concatenate((grad_w, grad_b)) + 2 * RIDGE * pull

    found = minimize(loss, start, jac=True, method="L-BFGS-B")
    theta = found.x if np.all(np.isfinite(found.x)) else start
    return VectorScaling(
        (float(theta[0]), float(theta[1]), float(theta[2])),
        (float(theta[3]), float(theta[4]), float(theta[5])),
    )
