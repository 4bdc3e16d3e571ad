"""The all-features-at-once statistics equal the per-feature definitions, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.intelligence.shift_stats import (
    bin_shares,
    decile_edges,
    ks_columns,
    ks_sorted,
    psi,
    psi_columns,
)


def _samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ref, live = rng.normal(size=(512, 12)), rng.normal(1.0, 2.0, size=(168, 12))
    ref[:, 1], live[:, 1] = rng.integers(0, 3, 512), rng.integers(0, 4, 168)  # discrete
    ref[:, 2], live[:, 2] = np.round(ref[:, 2], 1), np.round(live[:, 2], 1)  # many ties
    ref[:, 3], live[:, 3] = 0.0, rng.integers(0, 2, 168)  # constant reference: one bin
    live[:, 4] = ref[:168, 4]  # live equal to part of the reference
    return ref, live


@pytest.mark.parametrize("seed", range(5))
def test_ks_columns_equals_ks_per_feature(seed: int) -> None:
    ref, live = _samples(seed)
    a, b = np.sort(ref.T, axis=1), np.sort(live.T, axis=1)
    statistics, pvalues = ks_columns(a, b)
    expected = [ks_sorted(a[j], b[j]) for j in range(ref.shape[1])]
    assert statistics.tolist() == [s for s, _ in expected]
    assert pvalues.tolist() == [p for _, p in expected]


@pytest.mark.parametrize("seed", range(5))
def test_psi_columns_equals_psi_per_feature(seed: int) -> None:
    ref, live = _samples(seed)
    edges = [decile_edges(ref[:, j]) for j in range(ref.shape[1])]
    shares = [bin_shares(ref[:, j], e) for j, e in enumerate(edges)]
    widest = max(len(e) for e in edges)
    padded_edges = np.full((len(edges), widest), np.inf)
    padded_shares = np.zeros((len(edges), widest + 1))
    for j, (e, v) in enumerate(zip(edges, shares, strict=True)):
        padded_edges[j, : len(e)], padded_shares[j, : len(v)] = e, v
    bins = np.array([len(e) + 1 for e in edges])
    assert len(set(bins.tolist())) > 1  # features with different bin counts are covered
    got = psi_columns(padded_shares, padded_edges, bins, live)
    assert got.tolist() == [
        psi(shares[j], bin_shares(live[:, j], edges[j])) for j in range(ref.shape[1])
    ]
