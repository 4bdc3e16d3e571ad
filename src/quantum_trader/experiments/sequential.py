"""An always-valid test on paired differences whose noise is autocorrelated and fat-tailed.

Two arms of an experiment trade the same candles, so the per-candle difference of their
returns is the evidence (``experiments/experiment.py``). Those differences are neither
independent (a position lasts several candles) nor thin-tailed (crypto), and the operator looks
at the result after every candle. A fixed-sample t-test peeked at that often rejects a true null
far more often than its alpha; this test keeps its promise however often it is read.

The test is the mixture sequential probability ratio test (mSPRT) of H. Robbins (1970),
"Statistical methods related to the law of the iterated logarithm", as used for always-valid
inference by R. Johari, L. Pekelis and D. Walsh (2017), "Peeking at A/B tests". For n
differences of mean m and (long-run) variance v, and a normal mixing distribution N(0, tau^2)
over the true mean theta, the mixture likelihood ratio against theta_0 is::

    Lambda_n = sqrt(v / (v + n tau^2)) * exp( n^2 tau^2 (m - theta_0)^2 / (2 v (v + n tau^2)) )

Rejecting theta_0 the first time Lambda_n >= 1 / alpha keeps the type-I error at or below
alpha over every n (Ville's inequality); inverting it gives the confidence sequence::

    theta in m +- sqrt( 2 v (v + n tau^2) / (n^2 tau^2) * (log(1/alpha) + log(1 + n tau^2 / v) / 2) )

``tau^2 = rho v`` sets where the boundary is tightest; S. R. Howard, A. Ramdas, J. McAuliffe and
J. Sekhon (2021), "Time-uniform, nonparametric, nonasymptotic confidence sequences", give
``rho = (-2 log alpha + log(1 - 2 log alpha)) / n*`` for tightest width at n*. Here n* is a
quarter of the experiment's horizon: an edge of the planned size should show well before the
horizon, and a smaller n* spends the width where early stops happen.

The variance is the Newey-West long-run variance (Bartlett kernel, bandwidth
``floor(4 (n/100)^(2/9))``, W. K. Newey and K. D. West, 1994, "Automatic lag selection in
covariance matrix estimation"), so that an autocorrelated series is not taken for more evidence
than it holds. It is a plug-in estimate: the guarantee is asymptotic, and no verdict is given
under ``min_samples`` differences, while the estimate is still poor. The false-positive rate
with Student-t(3) noise and AR(1) = 0.2, peeking after every sample, is measured in
``bench/bench_ab_testing.py`` (docs/experiments.md).

Everything is kept per *lane*: one test object runs ``lanes`` independent series side by side
(numpy arrays of that length), so that a simulation of thousands of experiments runs the same
code as one live experiment (``lanes=1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: lags kept for the long-run variance; the automatic bandwidth reaches 24 near 318,000 samples
MAX_LAG = 24


def newey_west_bandwidth(n: int) -> int:
    """The automatic Bartlett bandwidth for ``n`` samples, capped at :data:`MAX_LAG`.

    >>> newey_west_bandwidth(100), newey_west_bandwidth(2000)
    (4, 7)
    """
    if n < 2:
        return 0
    return min(MAX_LAG, int(4.0 * (n / 100.0) ** (2.0 / 9.0)), n - 1)


def mixture_rho(alpha: float, tightest_at: int) -> float:
    """The mixing variance per unit of variance whose boundary is tightest at ``tightest_at``
    samples (Howard et al. 2021)."""
    if tightest_at < 1:
        raise ValueError(f"tightest_at={tightest_at}: the boundary needs a positive sample size")
    two_log = -2.0 * math.log(alpha)
    return (two_log + math.log(two_log + 1.0)) / tightest_at


class LongRunVariance:
    """Running Newey-West long-run variance of ``lanes`` series, O(MAX_LAG) per sample.

    Keeps, per lane, the sum of the samples and the lagged cross-products
    ``S_k = sum_t x_t x_{t-k}``, and the last MAX_LAG samples; each lag's autocovariance about
    the current mean follows from those sums without revisiting the series.

    >>> lrv = LongRunVariance(1)
    >>> for x in [1.0, -1.0, 1.0, -1.0, 1.0, -1.0]:
    ...     lrv.update(np.array([x]))
    >>> round(float(lrv.mean()[0]), 3), bool(lrv.variance()[0] < 1.0)
    (0.0, True)
    """

    def __init__(self, lanes: int) -> None:
        self.n = 0
        self.lanes = lanes
        self._sum = np.zeros(lanes)
        self._cross = np.zeros((MAX_LAG + 1, lanes))
        # ring of the last MAX_LAG + 1 samples, and the sum of the first k samples for k <= MAX_LAG
        self._recent = np.zeros((MAX_LAG + 1, lanes))
        self._head = np.zeros((MAX_LAG + 1, lanes))

    def update(self, x: FloatArray) -> None:
        """Add one sample per lane."""
        n = self.n
        slot = n % (MAX_LAG + 1)
        self._recent[slot] = x
        for k in range(min(n, MAX_LAG) + 1):
            self._cross[k] += x * self._recent[(n - k) % (MAX_LAG + 1)]
        self._sum += x
        self.n = n + 1
        if self.n <= MAX_LAG:
            self._head[self.n] = self._sum

    def mean(self) -> FloatArray:
        return self._sum / max(self.n, 1)

    def variance(self) -> FloatArray:
        """The long-run variance per lane (0 under two samples)."""
        n = self.n
        if n < 2:
            return np.zeros(self.lanes)
        total, m = self._sum, self._sum / n
        out = (self._cross[0] - 2.0 * m * total + n * m * m) / n
        bandwidth = newey_west_bandwidth(n)
        for k in range(1, bandwidth + 1):
            first = total - self._head[k]  # samples k+1 .. n
            last = total - self._tail(k)  # samples 1 .. n-k
            gamma = (self._cross[k] - m * (first + last) + (n - k) * m * m) / n
            out = out + 2.0 * (1.0 - k / (bandwidth + 1.0)) * gamma
        return np.asarray(np.maximum(out, 0.0), dtype=np.float64)

    def _tail(self, k: int) -> FloatArray:
        """The sum of the last ``k`` samples per lane."""
        n = self.n
        return sum(
            (self._recent[(n - 1 - j) % (MAX_LAG + 1)] for j in range(k)), np.zeros(self.lanes)
        )


@dataclass(frozen=True, slots=True)
class SequentialReading:
    """Where one lane stands: its mean difference, the confidence sequence around it, and
    whether zero has left it (``rejected``: the earliest time it did stays recorded)."""

    samples: int
    mean: float
    low: float | None  # None under min_samples, or while the variance is zero
    high: float | None
    rejected: bool
    rejected_at: int | None  # the sample at which the interval first excluded zero


class MixtureSequentialTest:
    """The mSPRT of theta = 0 on ``lanes`` paired-difference series (see the module docstring).

    A lane is *rejected* the first time its interval excludes zero, and stays rejected: the
    guarantee covers "the first time", not a later return of zero into the interval.

    >>> test = MixtureSequentialTest(1, alpha=0.05, horizon=400, min_samples=100)
    >>> rng = np.random.default_rng(0)
    >>> for _ in range(400):
    ...     test.update(rng.normal(0.5, 1.0, size=1))
    >>> reading = test.reading(0)
    >>> reading.rejected, reading.low > 0.0
    (True, True)
    """

    def __init__(self, lanes: int, *, alpha: float, horizon: int, min_samples: int) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha={alpha}: must lie in (0, 1)")
        if min_samples < 2 or horizon < min_samples:
            raise ValueError(
                f"min_samples={min_samples}, horizon={horizon}: need 2 <= min_samples <= horizon"
            )
        self.alpha = alpha
        self.horizon = horizon
        self.min_samples = min_samples
        self.rho = mixture_rho(alpha, max(1, horizon // 4))
        self.variance = LongRunVariance(lanes)
        self.rejected_at = np.full(lanes, -1, dtype=np.int64)
        self._half = np.full(lanes, np.nan)

    @property
    def samples(self) -> int:
        return self.variance.n

    def update(self, differences: FloatArray) -> None:
        """Add one paired difference per lane and re-read the boundary."""
        x = np.asarray(differences, dtype=np.float64)
        if x.shape != (self.variance.lanes,) or not np.all(np.isfinite(x)):
            raise ValueError(
                f"paired differences {x!r}: expected {self.variance.lanes} finite values"
            )
        self.variance.update(x)
        n = self.variance.n
        if n < self.min_samples:
            return
        v = self.variance.variance()
        self._half = half_width(v, n, self.rho, self.alpha)
        m = self.variance.mean()
        newly = (self.rejected_at < 0) & (np.abs(m) > self._half)
        self.rejected_at[newly] = n

    def reading(self, lane: int = 0) -> SequentialReading:
        n = self.variance.n
        m = float(self.variance.mean()[lane]) if n else 0.0
        half = float(self._half[lane])
        known = n >= self.min_samples and math.isfinite(half)
        at = int(self.rejected_at[lane])
        return SequentialReading(
            n,
            m,
            m - half if known else None,
            m + half if known else None,
            at >= 0,
            at if at >= 0 else None,
        )


def half_width(variance: FloatArray, n: int, rho: float, alpha: float) -> FloatArray:
    """The confidence sequence's half-width at ``n`` samples of long-run ``variance``; NaN where
    the variance is zero (no spread seen yet: no interval, rather than a zero-width one)."""
    growth = 1.0 + n * rho
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.sqrt(
            2.0
            * variance
            * growth
            / (n * n * rho)
            * (math.log(1.0 / alpha) + 0.5 * math.log(growth))
        )
    return np.where(variance > 0.0, width, np.nan)
