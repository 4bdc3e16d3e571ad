"""Classification and trading metrics on DOWN / FLAT / UP predictions."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from quantum_trader.features.labels import DOWN, UP
from quantum_trader.models.base import FloatArray

EPS = 1e-12


def log_loss(y: FloatArray, probs: FloatArray) -> float:
    """Mean negative log-likelihood of the true class.

    >>> round(log_loss(np.array([0.0, 2.0]), np.array([[0.5, 0.25, 0.25], [0.2, 0.2, 0.6]])), 4)
    0.602
    """
    idx = y.astype(np.int64)
    p = np.clip(probs[np.arange(len(idx)), idx], EPS, 1.0)
    return float(-np.log(p).mean())


def macro_f1(y: FloatArray, pred: np.ndarray, n_classes: int = 3) -> float:
    """Unweighted mean F1 over classes (a class never true nor predicted scores 0).

    >>> macro_f1(np.array([0.0, 1.0, 2.0]), np.array([0, 1, 2]))
    1.0
    """
    truth = y.astype(np.int64)
    scores = []
    for k in range(n_classes):
        tp = float(np.sum((pred == k) & (truth == k)))
        fp = float(np.sum((pred == k) & (truth != k)))
        fn = float(np.sum((pred != k) & (truth == k)))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def trading_metrics(pred: np.ndarray, forward_return: FloatArray, fee: float) -> dict[str, float]:
    """Act on UP (long) / DOWN (short) for the label horizon: mean net return per trade.

    >>> out = trading_metrics(np.array([2, 0, 1]), np.array([0.01, 0.01, 0.5]), 0.001)
    >>> out["trades"], round(out["mean_net_bps"], 6), out["hit_rate"]
    (2.0, -10.0, 0.5)
    """
    side = np.where(pred == UP, 1.0, np.where(pred == DOWN, -1.0, 0.0))
    acting = side != 0
    trades = int(acting.sum())
    if trades == 0:
        return {"trades": 0.0, "mean_net_bps": 0.0, "hit_rate": 0.0}
    net = side[acting] * forward_return[acting] - fee
    return {
        "trades": float(trades),
        "mean_net_bps": float(net.mean() * 1e4),
        "hit_rate": float((net > 0).mean()),
    }


def brier_score(y: FloatArray, probs: FloatArray) -> float:
    """Mean over rows of the squared distance between the probabilities and the one-hot truth
    (multi-class Brier: 0 is perfect, 2 the worst).

    >>> brier_score(np.array([2.0, 0.0]), np.array([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]]))
    0.25
    """
    onehot = np.eye(probs.shape[1])[y.astype(np.int64)]
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def expected_calibration_error(y: FloatArray, probs: FloatArray, bins: int = 10) -> float:
    """Top-label ECE: rows binned by their highest probability into ``bins`` equal-width bins
    of [0, 1]; the mean over rows of |accuracy − mean confidence| of their bin.

    >>> y = np.array([0.0, 0.0, 1.0, 2.0])
    >>> p = np.array([[0.9, 0.05, 0.05]] * 2 + [[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    >>> round(expected_calibration_error(y, p), 6)  # (2·0.1 + 1·0.6 + 1·0.2) / 4
    0.25
    """
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y.astype(np.int64)).astype(np.float64)
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        total += abs(correct[inside].mean() - confidence[inside].mean()) * inside.sum()
    return float(total / len(y)) if len(y) else float("nan")


def macro_auc(y: FloatArray, probs: FloatArray) -> float:
    """One-vs-rest ROC AUC averaged over the classes that occur and do not fill every row (NaN
    when none does): for each, the probability that a row of the class gets a higher
    probability of it than a row of another class, ties counting half (the Mann–Whitney U over
    both groups' sizes, from average ranks).

    >>> y = np.array([0.0, 2.0, 2.0, 1.0])
    >>> p = np.array([[0.6, 0.2, 0.2], [0.1, 0.2, 0.7], [0.3, 0.2, 0.5], [0.3, 0.4, 0.3]])
    >>> macro_auc(y, p)
    1.0
    >>> round(macro_auc(y, p[::-1]), 4)  # classes 0, 1, 2: 1/2, 1/3, 1
    0.6111
    """
    labels = y.astype(np.int64)
    aucs = []
    for k in range(probs.shape[1]):
        positive = labels == k
        n_pos = int(positive.sum())
        n_neg = len(labels) - n_pos
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = rankdata(probs[:, k])
        u = float(ranks[positive].sum()) - n_pos * (n_pos + 1) / 2
        aucs.append(u / (n_pos * n_neg))
    return float(np.mean(aucs)) if aucs else float("nan")


def classification_metrics(y: FloatArray, probs: FloatArray) -> dict[str, float]:
    """accuracy, log-loss, macro-F1, Brier and ECE of probabilities ``probs`` against ``y``."""
    pred = probs.argmax(axis=1)
    return {
        "accuracy": float((pred == y.astype(np.int64)).mean()),
        "log_loss": log_loss(y, probs),
        "macro_f1": macro_f1(y, pred),
        "brier": brier_score(y, probs),
        "ece": expected_calibration_error(y, probs),
    }
