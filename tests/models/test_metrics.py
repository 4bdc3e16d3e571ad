"""Macro one-vs-rest AUC (the validation gate's): against scikit-learn's, on random scores."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.models.metrics import macro_auc


@pytest.mark.parametrize("seed", range(3))
def test_macro_auc_equals_scikit_learns_one_vs_rest_macro_average(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 400).astype(np.float64)
    p = rng.dirichlet([1.0, 1.0, 1.0], 400)
    p[np.arange(400), y.astype(np.int64)] += 0.2 * seed  # more skill with each seed
    p = np.round(p / p.sum(axis=1, keepdims=True), 2)  # rounded: ties
    p = p / p.sum(axis=1, keepdims=True)
    expected = metrics.roc_auc_score(y, p, multi_class="ovr", average="macro")
    assert macro_auc(y, p) == pytest.approx(expected, abs=1e-12)


def test_a_class_that_never_occurs_is_left_out_and_none_gives_nan() -> None:
    y = np.array([0.0, 0.0, 2.0, 2.0])
    p = np.array([[0.8, 0.1, 0.1], [0.6, 0.1, 0.3], [0.2, 0.1, 0.7], [0.5, 0.4, 0.1]])
    # class 0: its 4 pairs ordered right; class 2: 2 right, 1 tied, 1 wrong; class 1 absent
    assert macro_auc(y, p) == pytest.approx((1.0 + 2.5 / 4) / 2)
    assert np.isnan(macro_auc(np.zeros(3), np.tile([0.5, 0.25, 0.25], (3, 1))))
