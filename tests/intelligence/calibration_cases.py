"""Seeded votes and the discounted calibration figures computed from scratch, the reference
the live calibration's O(1) sums are checked against (here and in the ``/metrics`` tests)."""

from __future__ import annotations

import math

import numpy as np

from quantum_trader.intelligence.calibration import BINS
from quantum_trader.intelligence.ledger import PROB_FLOOR

Probs = tuple[float, float, float]


def votes(seed: int, n: int) -> tuple[list[Probs], list[int]]:
    """``n`` seeded probability vectors, sharper than uniform, and labels that agree with the
    top class more often than chance (so bins differ in accuracy)."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet([0.6, 0.6, 0.6], size=n)
    labels = [int(np.argmax(p)) if rng.random() < 0.55 else int(rng.integers(0, 3)) for p in probs]
    return [(float(a), float(b), float(c)) for a, b, c in probs], labels


def loss(probs: Probs, label: int) -> float:
    return -math.log(max(probs[label], PROB_FLOOR))


def direct(probs: list[Probs], labels: list[int], discount: float) -> dict[str, float]:
    """The discounted figures from scratch: each label weighs ``discount ** age``."""
    p = np.array(probs)
    y = np.array(labels)
    w = discount ** np.arange(len(y) - 1, -1, -1, dtype=np.float64)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    which = np.minimum((confidence * BINS).astype(np.int64), BINS - 1)
    gaps = [abs((w * (correct - confidence))[which == b].sum()) for b in range(BINS)]
    onehot = np.eye(3)[y]
    losses = np.array([loss(q, label) for q, label in zip(probs, labels, strict=True)])
    return {
        "ece": float(sum(gaps) / w.sum()),
        "brier": float((w * ((p - onehot) ** 2).sum(axis=1)).sum() / w.sum()),
        "log_loss": float((w * losses).sum() / w.sum()),
        "count": float(w.sum()),
    }
