"""Distribution comparisons for covariate shift: PSI, KS and a multivariate energy distance.

- PSI (population stability index) per feature on fixed reference bins (training deciles):
  ``sum((live% - ref%) * ln(live% / ref%))``; rule of thumb < 0.1 stable, > 0.25 shifted.
- KS: scipy's two-sample Kolmogorov-Smirnov statistic and p-value per feature.
- Energy distance (Székely & Rizzo) between the standardised live window and a reference
  sample, all features at once: ``2 E|X-Y| - E|X-X'| - E|Y-Y'|`` (U-statistics inside each
  sample). It sees changes in the joint distribution (e.g. correlations) that per-feature
  tests miss. It has no natural scale, so the reference calibrates a null level for it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.spatial.distance import cdist
from scipy.special import kolmogorov

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


def mean_pairwise_distance(x: FloatArray) -> float:
    """Mean Euclidean distance between distinct rows of ``x``: the energy distance's self term.

    >>> mean_pairwise_distance(np.array([[0.0], [1.0], [3.0]]))
    2.0
    """
    n = len(x)
    if n < 2:
        raise ValueError(f"mean_pairwise_distance needs >= 2 rows, got {n}")
    return float(cdist(x, x).sum() / (n * (n - 1)))


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
    xy = cdist(x, y).mean()
    xx = mean_pairwise_distance(x) if x_self is None else x_self
    return float(2 * xy - xx - mean_pairwise_distance(y))
