"""The doubly robust estimate's reward model: per-action ridge regression, cross-fitted.

``cross_fitted_rewards(log)`` predicts, for every logged decision and every action, the reward
that action would have earned there, from the decision's features. The decisions are split in
``folds`` contiguous blocks (in log order, i.e. in time); each block is predicted by models
fitted on the other blocks only, so that no prediction comes from a model that saw its own row
(an in-sample model would fit the noise of the rewards the DR correction subtracts, and
bias the estimate toward the direct method).

Per action and fold: ridge regression of the reward on the features, with an unpenalised
intercept (features and rewards centred on the fitting rows' means), ``ridge`` the penalty on
the features' standardised scale. With one-hot features of a discrete state it is a
per-(state, action) mean shrunk toward the action's mean; an action never taken in the fitting
blocks is predicted by those blocks' mean reward.

>>> from quantum_trader.evaluation.offpolicy import DecisionLog, LoggedDecision
>>> rows = [LoggedDecision((float(i % 2),), i % 2, 0.5, float(i % 2), "v") for i in range(20)]
>>> q = cross_fitted_rewards(DecisionLog.of(rows, 2), folds=2, ridge=1e-9)
>>> [round(float(v), 3) for v in q[0]], [round(float(v), 3) for v in q[1]]
([0.0, 1.0], [0.0, 1.0])
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from quantum_trader.evaluation.offpolicy import DecisionLog, FloatArray


def cross_fitted_rewards(log: DecisionLog, *, folds: int = 5, ridge: float = 1.0) -> FloatArray:
    """``(n, K)`` predicted rewards per decision and action, each row predicted by models
    fitted on the other folds (see the module docstring)."""
    n = len(log)
    if folds < 2 or n < folds:
        raise ValueError(f"cross_fitted_rewards: folds={folds} must be >= 2 and <= {n} decisions")
    if not (math.isfinite(ridge) and ridge >= 0):
        raise ValueError(f"cross_fitted_rewards: ridge={ridge} must be finite and >= 0")
    out = np.empty((n, log.n_actions))
    edges = np.linspace(0, n, folds + 1).round().astype(np.int64)
    for begin, end in itertools.pairwise(edges.tolist()):
        fitting = np.ones(n, dtype=bool)
        fitting[begin:end] = False
        out[begin:end] = _fit_predict(log, fitting, log.features[begin:end], ridge)
    return out


def _fit_predict(log: DecisionLog, fitting: np.ndarray, x: FloatArray, ridge: float) -> FloatArray:
    """Per action, a ridge fitted on the ``fitting`` rows that took it, predicting ``x``."""
    fallback = float(log.rewards[fitting].mean())
    predictions = np.full((len(x), log.n_actions), fallback)
    for action in range(log.n_actions):
        rows = fitting & (log.actions == action)
        if not rows.any():
            continue
        predictions[:, action] = _ridge(log.features[rows], log.rewards[rows], x, ridge)
    return predictions


def _ridge(x: FloatArray, y: FloatArray, at: FloatArray, ridge: float) -> FloatArray:
    """Ridge with an unpenalised intercept, the penalty on standardised features."""
    if x.shape[1] == 0:
        return np.full(len(at), float(y.mean()))
    centre = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0  # a constant feature carries nothing: its coefficient goes to 0
    z = (x - centre) / scale
    gram = z.T @ z + ridge * np.eye(z.shape[1])
    coef = np.linalg.lstsq(gram, z.T @ (y - y.mean()), rcond=None)[0]
    predicted: FloatArray = float(y.mean()) + ((at - centre) / scale) @ coef
    return predicted
