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


def test_distances_from_one_product_equal_scipys_within_rounding() -> None:
    from scipy.spatial.distance import cdist

    from quantum_trader.intelligence.shift_stats import (
        energy_distance,
        mean_pairwise_distance,
        pairwise_distances,
    )

    ref, live = _samples(3)
    z_ref = (ref - ref.mean(axis=0)) / np.where(ref.std(axis=0) > 0, ref.std(axis=0), 1.0)
    z_live = (live - ref.mean(axis=0)) / np.where(ref.std(axis=0) > 0, ref.std(axis=0), 1.0)
    z_live[1] = z_live[0]  # a repeated row: its distance is 0, not rounding noise
    assert pairwise_distances(z_ref, z_live) == pytest.approx(cdist(z_ref, z_live), rel=1e-12)
    exact_self = cdist(z_live, z_live).sum() / (len(z_live) * (len(z_live) - 1))
    assert mean_pairwise_distance(z_live) == pytest.approx(exact_self, rel=1e-12)
    exact = 2 * cdist(z_ref, z_live).mean() - cdist(z_ref, z_ref).sum() / (512 * 511) - exact_self
    assert energy_distance(z_ref, z_live) == pytest.approx(exact, rel=1e-9)
