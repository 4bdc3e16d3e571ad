"""Is a Sharpe ratio evidence of skill? The probabilistic and deflated Sharpe ratios, and a paired
block-bootstrap interval for the difference between two strategies over the same candles.

References (the formulas below are written from the papers):

* D. H. Bailey and M. López de Prado (2012), "The Sharpe Ratio Efficient Frontier", Journal of
  Risk 15(2): the probabilistic Sharpe ratio, the probability that the true Sharpe ratio
  exceeds a benchmark SR*, given the estimate SR^ from T returns of skewness g3 and (non-excess)
  kurtosis g4::

      PSR(SR*) = Phi( (SR^ - SR*) * sqrt(T - 1) / sqrt(1 - g3 * SR^ + (g4 - 1) / 4 * SR^2) )

* D. H. Bailey and M. López de Prado (2014), "The Deflated Sharpe Ratio: Correcting for
  Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management
  40(5): the best of N trials is judged against the Sharpe ratio it would show by luck alone,
  the expected maximum of N estimates with variance V across trials (g = Euler-Mascheroni)::

      SR0 = sqrt(V) * ( (1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e)) )
      DSR = PSR(SR0)

All Sharpe ratios here are per period (per bar), not annualised: T counts bars, and V must be
the variance of the trials' per-bar Sharpe ratios. The estimate is mean / std (ddof=1), the
skewness and kurtosis are the plain moment ratios m3 / m2^1.5 and m4 / m2^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from quantum_trader.performance.metrics import FloatArray, finite_series

EULER_MASCHERONI = 0.5772156649015329
_NORMAL = NormalDist()


def probabilistic_sharpe_from_moments(
    sharpe: float, periods: int, skewness: float, kurtosis: float, benchmark: float = 0.0
) -> float:
    """PSR from its ingredients: a per-period Sharpe ratio over ``periods`` returns of the given
    skewness and non-excess kurtosis (3 for a normal distribution), against ``benchmark``.

    >>> probabilistic_sharpe_from_moments(0.1, 101, 0.0, 3.0, benchmark=0.1)
    0.5
    """
    if periods < 2:
        raise ValueError(f"periods={periods}: PSR needs at least 2 returns")
    spread = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if not spread > 0:
        raise ValueError(
            f"skewness={skewness}, kurtosis={kurtosis}, sharpe={sharpe}: the variance term "
            f"{spread} is not positive (sample moments always give kurtosis >= 1 + skewness^2)"
        )
    z = (sharpe - benchmark) * math.sqrt(periods - 1) / math.sqrt(spread)
    return _NORMAL.cdf(z)


def _moments(r: FloatArray) -> tuple[float, float, float] | None:
    """(per-period Sharpe, skewness, kurtosis), None when the returns do not vary."""
    if len(r) < 2 or r.max() == r.min():
        return None
    centred = r - r.mean()
    m2 = float(np.mean(centred**2))
    skewness = float(np.mean(centred**3)) / m2**1.5
    kurtosis = float(np.mean(centred**4)) / m2**2
    return float(r.mean() / np.std(r, ddof=1)), skewness, kurtosis


def probabilistic_sharpe_ratio(returns: npt.ArrayLike, benchmark: float = 0.0) -> float:
    """Probability that the true per-period Sharpe ratio of ``returns`` exceeds ``benchmark``
    (NaN under two returns or when they never vary).

    >>> round(probabilistic_sharpe_ratio([0.01, -0.005, 0.02, 0.0, 0.015, -0.01]), 4)
    0.825
    """
    r = finite_series(returns, "returns")
    moments = _moments(r)
    if moments is None:
        return math.nan
    sharpe, skewness, kurtosis = moments
    return probabilistic_sharpe_from_moments(sharpe, len(r), skewness, kurtosis, benchmark)


def expected_max_sharpe(trials: int, variance: float) -> float:
    """Expected maximum of ``trials`` Sharpe estimates around a true Sharpe ratio of 0, whose
    variance across trials is ``variance`` (0 for a single trial or no variance).

    >>> round(expected_max_sharpe(100, 1.0), 4)
    2.5306
    """
    if trials < 1:
        raise ValueError(f"trials={trials}: at least 1 trial was run")
    if not (math.isfinite(variance) and variance >= 0):
        raise ValueError(f"variance={variance}: must be finite and >= 0")
    if trials == 1 or variance == 0:
        return 0.0
    g = EULER_MASCHERONI
    spread = (1 - g) * _NORMAL.inv_cdf(1 - 1 / trials) + g * _NORMAL.inv_cdf(
        1 - 1 / (trials * math.e)
    )
    return math.sqrt(variance) * spread


def deflated_sharpe_ratio(
    returns: npt.ArrayLike, trials: int, trial_sharpe_variance: float
) -> float:
    """PSR of the chosen strategy's ``returns`` against the best per-period Sharpe ratio that
    ``trials`` skill-less trials would be expected to show (``trial_sharpe_variance``: the
    variance of the trials' per-period Sharpe ratios).

    >>> r = [0.01, -0.005, 0.02, 0.0, 0.015, -0.01]
    >>> deflated_sharpe_ratio(r, 1, 0.0) == probabilistic_sharpe_ratio(r)
    True
    """
    return probabilistic_sharpe_ratio(returns, expected_max_sharpe(trials, trial_sharpe_variance))


@dataclass(frozen=True, slots=True)
class BootstrapInterval:
    """A statistic's value on the data and its bootstrap percentile interval."""

    point: float
    low: float
    high: float
    samples: int
    block: int


STATISTICS = ("sharpe", "sortino")
# start indices drawn per chunk of bootstrap samples (bounds memory at any series length)
_CHUNK_STARTS = 1 << 22


def default_block(n: int) -> int:
    """Block length ~ n^(1/3), rounded (at least 1): 17,000 hourly returns -> 26 bars.

    >>> default_block(17_000), default_block(5)
    (26, 2)
    """
    return max(1, round(math.cbrt(n)))


class _BlockSums:
    """Sums of every circular block of one series, so that a resample of k blocks costs k
    look-ups instead of n: for each start s, the sum over the block of the centred returns,
    of their squares and of the squared losses; the last block of a resample is cut short
    (``k * block`` overshoots n), so the sums of blocks of that length are kept as well."""

    def __init__(self, r: FloatArray, block: int) -> None:
        n = len(r)
        self.n, self.block = n, block
        self.blocks = -(-n // block)
        self.mean = float(r.mean())
        # centring keeps the variance exact to rounding even when the mean dwarfs the spread
        centred = r - self.mean
        losses = np.minimum(r, 0.0)
        last = n - (self.blocks - 1) * block
        self.full: list[FloatArray] = []
        self.part: list[FloatArray] = []
        for q in (centred, centred * centred, losses * losses):
            cum = np.concatenate(([0.0], np.cumsum(np.concatenate((q, q[:block])))))
            self.full.append(cum[block : block + n] - cum[:n])
            self.part.append(cum[last : last + n] - cum[:n])

    def totals(self, starts: npt.NDArray[np.intp]) -> list[FloatArray]:
        """Per resample (a row of ``blocks`` start indices): the sums over the n returns."""
        return [
            full[starts[:, :-1]].sum(axis=1) + part[starts[:, -1]]
            for full, part in zip(self.full, self.part, strict=True)
        ]

    def statistic(self, starts: npt.NDArray[np.intp], name: str, ppy: float) -> FloatArray:
        """Annualised Sharpe or Sortino ratio of each resample; 0 where it has no spread (a
        flat baseline) or no loss, so that a difference with it stays finite."""
        s1, s2, s_loss = self.totals(starts)
        n = self.n
        mean = self.mean + s1 / n
        if name == "sharpe":
            var = (s2 - s1 * s1 / n) / (n - 1)
            # a resample of one repeated value leaves a rounding residue of ~1e-16 of s2 / n
            varies = var > 1e-10 * (s2 / n)
            spread = np.sqrt(np.where(varies, var, 1.0))
            return np.where(varies, mean / spread, 0.0) * math.sqrt(ppy)
        loses = s_loss > 0
        downside = np.sqrt(np.where(loses, s_loss / n, 1.0))
        return np.where(loses, mean / downside, 0.0) * math.sqrt(ppy)


def _check_bootstrap(
    x: FloatArray, y: FloatArray, statistic: str, ppy: float, samples: int, confidence: float
) -> None:
    if len(x) != len(y):
        raise ValueError(
            f"a has {len(x)} returns and b {len(y)}: the paired bootstrap needs both over the "
            "same candles"
        )
    if len(x) < 2:
        raise ValueError(f"{len(x)} returns: the bootstrap needs at least 2")
    if statistic not in STATISTICS:
        raise ValueError(f"statistic={statistic!r}: known are {', '.join(STATISTICS)}")
    if not (math.isfinite(ppy) and ppy > 0):
        raise ValueError(f"periods_per_year={ppy}: must be a positive number")
    if samples < 1:
        raise ValueError(f"samples={samples}: must be >= 1")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}: must lie strictly between 0 and 1")


def block_bootstrap_difference(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    statistic: str = "sharpe",
    periods_per_year: float,
    samples: int = 2000,
    seed: int = 0,
    block: int | None = None,
    confidence: float = 0.95,
) -> BootstrapInterval:
    """Annualised ``statistic`` of returns ``a`` minus that of ``b``, with a percentile interval
    from a paired circular block bootstrap: each sample strings together random blocks of
    ``block`` consecutive bars (wrapping around the end), the *same* bars for both series, so
    what they share (the market on those candles) cancels and autocorrelation within a block
    survives. A series without spread (or, for Sortino, without a loss) counts as 0.

    >>> flat = [0.0] * 50
    >>> ups = [0.001 * (1 + i % 3) for i in range(50)]
    >>> iv = block_bootstrap_difference(ups, flat, periods_per_year=365.0, samples=200)
    >>> iv.low > 0, iv.block
    (True, 4)
    """
    x, y = finite_series(a, "a"), finite_series(b, "b")
    _check_bootstrap(x, y, statistic, periods_per_year, samples, confidence)
    n = len(x)
    length = default_block(n) if block is None else block
    if not 1 <= length <= n:
        raise ValueError(f"block={length}: must lie between 1 and the {n} returns")
    sums_x, sums_y = _BlockSums(x, length), _BlockSums(y, length)

    def difference(starts: npt.NDArray[np.intp]) -> FloatArray:
        ppy = periods_per_year
        return sums_x.statistic(starts, statistic, ppy) - sums_y.statistic(starts, statistic, ppy)

    k = sums_x.blocks
    # blocks starting at 0, L, 2L, ...: the series itself
    point = float(difference((np.arange(k, dtype=np.intp) * length)[None, :])[0])
    rng = np.random.default_rng(seed)
    diffs = np.empty(samples)
    chunk = max(1, _CHUNK_STARTS // k)
    for lo in range(0, samples, chunk):
        hi = min(samples, lo + chunk)
        diffs[lo:hi] = difference(rng.integers(0, n, size=(hi - lo, k), dtype=np.intp))
    tail = (1 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    return BootstrapInterval(point, float(low), float(high), samples, length)
