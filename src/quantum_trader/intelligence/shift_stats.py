"""Distribution comparisons for covariate shift: PSI, KS and a multivariate energy distance.

- PSI (population stability index) per feature on fixed reference bins (training deciles):
  ``sum((live% - ref%) * ln(live% / ref%))``; rule of thumb < 0.1 stable, > 0.25 shifted.
- KS: the two-sample Kolmogorov-Smirnov statistic per feature, with Kolmogorov's asymptotic
  p-value (scipy.special).
- Energy distance (Székely & Rizzo) between the standardised live window and a reference
  sample, all features at once: ``2 E|X-Y| - E|X-X'| - E|Y-Y'|`` (U-statistics inside each
  sample). It sees changes in the joint distribution (e.g. correlations) that per-feature
  tests miss. It has no natural scale, so the reference calibrates a null level for it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import kolmogorov
from threadpoolctl import threadpool_limits

FloatArray = npt.NDArray[np.float64]

#: bin share floor, so an empty bin does not make PSI infinite.
PSI_FLOOR = 1e-4


def decile_edges(values: FloatArray, bins: int = 10) -> FloatArray:
    """Interior bin edges at the reference quantiles (duplicates dropped for discrete data).

    >>> decile_edges(np.arange(10.0), bins=2).tolist()
    [4.5]
    """
    qs = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(qs)


def bin_shares(values: FloatArray, edges: FloatArray) -> FloatArray:
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def psi(reference_shares: FloatArray, live_shares: FloatArray) -> float:
    """Population stability index between two share vectors over the same bins.

    >>> round(psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])), 6)
    0.0
    """
    ref = np.maximum(reference_shares, PSI_FLOOR)
    live = np.maximum(live_shares, PSI_FLOOR)
    return float(np.sum((live - ref) * np.log(live / ref)))


def ks(reference: FloatArray, live: FloatArray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and its asymptotic p-value.

    Written out because ``scipy.stats.ks_2samp`` spends ~1.5 ms per call in generic argument
    handling and an exact/series p-value; the statistic is two ``searchsorted`` calls and the
    p-value Kolmogorov's limiting distribution at ``sqrt(n m / (n + m)) * D`` (scipy.special).

    >>> ks(np.arange(10.0), np.arange(10.0))[0]
    0.0
    >>> round(ks(np.zeros(50), np.ones(50))[0], 3)
    1.0
    """
    return ks_sorted(np.sort(reference), np.sort(live))


def ks_sorted(a: FloatArray, b: FloatArray) -> tuple[float, float]:
    """:func:`ks` on samples already sorted (a reference's columns are sorted once)."""
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    statistic = float(np.abs(cdf_a - cdf_b).max())
    en = len(a) * len(b) / (len(a) + len(b))
    return statistic, float(kolmogorov(np.sqrt(en) * statistic))


def ks_columns(a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray]:
    """:func:`ks_sorted` for every feature at once: ``a`` (features, n) and ``b`` (features, m)
    hold each feature's sorted sample in a row. Returns the statistics and p-values per row.

    Each row pair is merged once (a stable sort of two sorted runs is a linear merge) and the
    count of ``a`` values at or below each merged value is a running count; at the last of
    equal values it is exactly ``searchsorted(a, value, side="right")``, so the statistics are
    the per-feature ones bit for bit, without two ``searchsorted`` calls per feature.

    >>> s, p = ks_columns(np.array([[0.0, 1.0, 2.0]]), np.array([[5.0, 6.0, 7.0]]))
    >>> s.tolist()
    [1.0]
    """
    n, m = a.shape[1], b.shape[1]
    merged = np.concatenate([a, b], axis=1)
    order = np.argsort(merged, axis=1, kind="stable")
    count_a = np.cumsum(order < n, axis=1)
    count_b = np.arange(1, n + m + 1) - count_a
    # only the last of equal values carries the CDFs at that value (whatever order equal
    # values were merged in)
    values = np.sort(merged, axis=1)
    last = np.ones(values.shape, dtype=bool)
    last[:, :-1] = values[:, 1:] != values[:, :-1]
    gaps = np.abs(count_a / n - count_b / m)
    statistics = np.where(last, gaps, 0.0).max(axis=1)
    en = n * m / (n + m)
    return statistics, kolmogorov(np.sqrt(en) * statistics)


def psi_columns(
    reference_shares: FloatArray, edges: FloatArray, bins: npt.NDArray[np.int64], live: FloatArray
) -> FloatArray:
    """:func:`psi` of every feature at once, from the live rows (rows, features).

    ``edges`` (features, e) holds each feature's interior bin edges padded with ``+inf``,
    ``bins`` each feature's real bin count (its edges + 1) and ``reference_shares``
    (features, e + 1) its reference shares padded with zeros. The live values are counted
    per bin with comparisons (a value is in bin ``i`` when ``i`` edges are at or below it,
    as in :func:`bin_shares`); each feature's sum runs over its own bins only, so the result
    equals :func:`psi` of :func:`bin_shares` bit for bit.
    """
    rows = live.shape[0]
    below = (live.T[:, :, None] < edges[:, None, :]).sum(axis=1)  # values below each edge
    counts = np.diff(below, prepend=0, append=rows, axis=1)
    ref = np.maximum(reference_shares, PSI_FLOOR)
    now = np.maximum(counts / max(rows, 1), PSI_FLOOR)
    terms = (now - ref) * np.log(now / ref)
    out = np.empty(len(bins))
    for k in np.unique(bins):  # features with as many bins are summed together, row by row
        same = bins == k
        out[same] = terms[same, :k].sum(axis=1)
    return out


def pairwise_distances(x: FloatArray, y: FloatArray) -> FloatArray:
    """Euclidean distances between every row of ``x`` (n, d) and of ``y`` (m, d).

    As ``|x|² + |y|² - 2 x·yᵀ``: one BLAS matrix product instead of ``cdist``'s n·m·d loop
    (512 × 168 rows of 41 features: 0.46 ms against 1.1 ms here, with BLAS on one thread, as
    the main job runs it: :func:`single_threaded_blas`). Rounding can leave a squared
    distance a few ulps below zero (clipped) and costs ~1e-15 relative, far below what the
    statistic resolves.

    >>> pairwise_distances(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[5.0, 0.0]]
    """
    distances: FloatArray = x @ y.T
    # in place from here: an (n, m) temporary per step cost more than the arithmetic
    distances *= -2.0
    distances += np.einsum("ij,ij->i", x, x)[:, None]
    distances += np.einsum("ij,ij->i", y, y)[None, :]
    np.maximum(distances, 0.0, out=distances)
    return np.sqrt(distances, out=distances)


def single_threaded_blas() -> None:
    """Run this process's BLAS on one thread from now on.

    The serving process's matrix products are small (the covariate-shift distances): a second
    BLAS thread costs more to start than it saves, and the machine's second core serves the
    worker threads (batch votes, live votes). Set once for the process rather than around each
    product: changing OpenBLAS's thread count while another thread is inside it is not safe.
    """
    threadpool_limits(limits=1, user_api="blas")


def mean_pairwise_distance(x: FloatArray) -> float:
    """Mean Euclidean distance between distinct rows of ``x``: the energy distance's self term.

    >>> mean_pairwise_distance(np.array([[0.0], [1.0], [3.0]]))
    2.0
    """
    n = len(x)
    if n < 2:
        raise ValueError(f"mean_pairwise_distance needs >= 2 rows, got {n}")
    distances = pairwise_distances(x, x)
    np.fill_diagonal(distances, 0.0)  # a row's distance to itself, exactly
    return float(distances.sum() / (n * (n - 1)))


def energy_distance(x: FloatArray, y: FloatArray, x_self: float | None = None) -> float:
    """Multivariate energy distance between samples ``x`` (n, d) and ``y`` (m, d).

    ``x_self``: ``mean_pairwise_distance(x)`` when already known. A training reference's
    sample is compared with many live windows; its self term (n² distances, the largest
    part of the work) is computed once.

    >>> a = np.zeros((5, 2)); b = np.ones((5, 2))
    >>> round(energy_distance(a, b), 4)
    2.8284
    """
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError(f"energy_distance needs >= 2 rows per sample, got {n} and {m}")
    xy = pairwise_distances(x, y).mean()
    xx = mean_pairwise_distance(x) if x_self is None else x_self
    return float(2 * xy - xx - mean_pairwise_distance(y))
