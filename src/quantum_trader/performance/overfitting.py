"""The probability of backtest overfitting (PBO), by combinatorially symmetric cross-validation.

Reference: D. H. Bailey, J. M. Borwein, M. López de Prado and Q. J. Zhu (2017), "The Probability
of Backtest Overfitting", Journal of Computational Finance 20(4). Written here from the paper's
definitions.

The question: when the best of N configurations is chosen on a backtest, how often is the choice
worse than the median configuration out of sample? The deflated Sharpe ratio
(``performance/significance.py``) asks whether the winner's Sharpe ratio survives the number of
trials; PBO asks whether *selecting* on this data works at all, without assuming a distribution.

Given the per-period returns of N trials over the same T periods (a T×N matrix), split the
periods into S blocks of consecutive periods (S even). For each of the C(S, S/2) ways to choose
half the blocks as the in-sample set (the rest, in their time order, out of sample):

1. the in-sample best trial n* is the one with the highest Sharpe ratio on the in-sample rows
   (the first of tied ones);
2. its relative rank out of sample is ω = r / (N + 1), r in 1..N its rank among the N trials'
   out-of-sample Sharpe ratios (N the best; ties share their average rank; Sharpe ratios within
   1e-9 of each other, relative, are tied, so that rounding decides no tie);
3. the logit λ = log(ω / (1 − ω)): positive when n* beats the out-of-sample median.

PBO is the fraction of combinations with λ ≤ 0. Near 0: selecting in sample finds what holds out
of sample. Near 0.5: selection is a coin toss — the trials are alike, or all noise. Near 1: the
selection is worse than chance (what looked best was fitted to the noise of its own half). Beside
it, the **performance degradation**: the least-squares line of the chosen trial's out-of-sample
Sharpe ratio on its in-sample one (a slope near or below 0 means in-sample excellence does not
carry over), and the probability that the chosen trial loses out of sample (Sharpe < 0).

Sharpe ratios are per period (mean over sample standard deviation, ddof=1, risk-free 0), as in
the trial ledger. A trial whose returns do not vary within a half has Sharpe 0 there when they
are 0 (a trial that never trades), ±inf otherwise. When T is not a multiple of S, the first
``T mod S`` blocks hold one period more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt

from quantum_trader.performance.metrics import FloatArray

IntArray = npt.NDArray[np.int64]
#: cells of the (combinations × trials) arrays evaluated at once (bounds memory)
_CHUNK_CELLS = 1 << 21
#: Sharpe ratios this close (relative, at least 1e-9 absolute) are tied
_TIE_RTOL = 1e-9


@dataclass(frozen=True, slots=True)
class BacktestOverfitting:
    """The outcome of :func:`probability_of_backtest_overfitting`; per-combination arrays are in
    the order of ``itertools.combinations(range(blocks), blocks // 2)`` (the in-sample blocks)."""

    pbo: float
    logits: FloatArray  # λ per combination
    combinations: int
    blocks: int
    periods: int
    trials: int
    best: IntArray  # the in-sample best trial of each combination
    is_sharpe: FloatArray  # its per-period Sharpe ratio in sample
    oos_sharpe: FloatArray  # … and out of sample
    degradation_slope: float  # least-squares slope of oos_sharpe on is_sharpe (NaN: undefined)
    degradation_intercept: float
    prob_oos_loss: float  # fraction of combinations whose chosen trial has oos_sharpe < 0


def _check(returns: npt.ArrayLike, blocks: int) -> FloatArray:
    """The returns as a T×N float matrix, or a ValueError saying what is wrong and where."""
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"returns: expected a T×N matrix (periods × trials), got shape {m.shape}")
    t, n = m.shape
    if n < 2:
        raise ValueError(f"returns has {n} trial(s) (columns): PBO compares at least 2")
    if blocks < 2 or blocks % 2:
        raise ValueError(
            f"blocks={blocks}: S must be even and >= 2 (half the blocks in sample, half out)"
        )
    if blocks > t:
        raise ValueError(f"blocks={blocks} > {t} periods (rows): every block needs a period")
    smallest_half = int(np.sort(_block_sizes(t, blocks))[: blocks // 2].sum())
    if smallest_half < 2:
        raise ValueError(
            f"{t} periods in {blocks} blocks leave {smallest_half} period(s) in a half: a "
            "Sharpe ratio needs at least 2"
        )
    bad = np.argwhere(~np.isfinite(m))
    if len(bad):
        row, col = (int(v) for v in bad[0])
        raise ValueError(
            f"returns[{row}, {col}] (period {row}, trial {col}) is {float(m[row, col])!r}: every "
            f"return must be finite ({len(bad)} are not)"
        )
    return m


def _block_sizes(periods: int, blocks: int) -> IntArray:
    """Consecutive blocks as equal as can be, the first ``periods mod blocks`` one longer."""
    sizes = np.full(blocks, periods // blocks, dtype=np.int64)
    sizes[: periods % blocks] += 1
    return sizes


def _sharpe(
    raw_sum: FloatArray, centred_sum: FloatArray, centred_sq: FloatArray, count: FloatArray
) -> FloatArray:
    """Per-period Sharpe ratios from sums over a set of rows. The variance comes from returns
    centred on each trial's full-sample mean (exact to rounding, however large the mean); the mean
    from the raw sum, so a half of zeros has mean exactly 0."""
    mean = raw_sum / count
    var = (centred_sq - centred_sum * centred_sum / count) / (count - 1)
    # returns that are one repeated value leave a rounding residue of ~1e-16 of centred_sq / n
    varies = var > 1e-10 * (centred_sq / count)
    flat = np.where(mean == 0, 0.0, np.copysign(np.inf, mean))
    return np.where(varies, mean / np.sqrt(np.where(varies, var, 1.0)), flat)


def _tolerance(values: FloatArray) -> FloatArray:
    """How far apart two Sharpe ratios may be and still count as tied: the same returns summed
    in another order differ in the last bits, and a tie must not be decided by rounding."""
    return _TIE_RTOL * np.maximum(1.0, np.abs(values))


def _in_sample_best(sharpe: FloatArray) -> IntArray:
    """Per combination (row), the trial with the highest Sharpe ratio; among ties, the first."""
    top = sharpe.max(axis=1, keepdims=True)
    best: IntArray = (sharpe >= top - _tolerance(top)).argmax(axis=1)
    return best


def _relative_rank(oos: FloatArray, best: IntArray) -> FloatArray:
    """ω = r / (N + 1): r the rank (1 = worst, N = best, ties averaged) of the chosen trial's
    out-of-sample Sharpe ratio among all trials', per combination (row)."""
    chosen = oos[np.arange(len(oos)), best][:, None]
    tol = _tolerance(chosen)
    tied = (oos == chosen) | (np.abs(oos - chosen) <= tol)  # == for a pair of equal infinities
    below = ((oos < chosen) & ~tied).sum(axis=1)
    equal = tied.sum(axis=1)  # includes the chosen trial itself
    rank = below + (equal + 1) / 2.0
    result: FloatArray = rank / (oos.shape[1] + 1)
    return result


def probability_of_backtest_overfitting(
    returns: npt.ArrayLike, blocks: int = 16
) -> BacktestOverfitting:
    """PBO of selecting the best of the N columns of ``returns`` (T periods × N trials, the
    same periods for every trial) by Sharpe ratio, over the C(S, S/2) splits of S = ``blocks``.

    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(0.0, 0.01, size=(400, 10))
    >>> edge = noise.copy(); edge[:, 3] += 0.005  # one trial with a real edge
    >>> result = probability_of_backtest_overfitting(edge, blocks=8)
    >>> result.combinations, result.pbo, set(result.best.tolist())
    (70, 0.0, {3})
    """
    m = _check(returns, blocks)
    t, n = m.shape
    count = _block_sizes(t, blocks)
    starts = np.concatenate(([0], np.cumsum(count)[:-1]))
    centred = m - m.mean(axis=0)
    # per block and trial: sum of returns, of centred returns, of their squares
    per_block = [np.add.reduceat(v, starts, axis=0) for v in (m, centred, centred * centred)]
    totals = [s.sum(axis=0) for s in per_block]

    splits = list(combinations(range(blocks), blocks // 2))
    in_sample = np.zeros((len(splits), blocks))
    for i, chosen in enumerate(splits):
        in_sample[i, list(chosen)] = 1.0

    best = np.empty(len(splits), dtype=np.int64)
    is_sharpe = np.empty(len(splits))
    oos_sharpe = np.empty(len(splits))
    logits = np.empty(len(splits))
    chunk = max(1, _CHUNK_CELLS // n)
    for lo in range(0, len(splits), chunk):
        mask = in_sample[lo : lo + chunk]
        raw, cen, sq = (mask @ s for s in per_block)
        n_in = (mask @ count.astype(np.float64))[:, None]
        sr_in = _sharpe(raw, cen, sq, n_in)
        sr_out = _sharpe(totals[0] - raw, totals[1] - cen, totals[2] - sq, t - n_in)
        top = _in_sample_best(sr_in)
        rows = np.arange(len(top))
        omega = _relative_rank(sr_out, top)
        hi = lo + len(top)
        best[lo:hi], is_sharpe[lo:hi], oos_sharpe[lo:hi] = top, sr_in[rows, top], sr_out[rows, top]
        logits[lo:hi] = np.log(omega / (1.0 - omega))

    slope, intercept = _degradation(is_sharpe, oos_sharpe)
    return BacktestOverfitting(
        pbo=float(np.mean(logits <= 0)),
        logits=logits,
        combinations=len(splits),
        blocks=blocks,
        periods=t,
        trials=n,
        best=best,
        is_sharpe=is_sharpe,
        oos_sharpe=oos_sharpe,
        degradation_slope=slope,
        degradation_intercept=intercept,
        prob_oos_loss=float(np.mean(oos_sharpe < 0)),
    )


def _degradation(is_sharpe: FloatArray, oos_sharpe: FloatArray) -> tuple[float, float]:
    """Least-squares (slope, intercept) of ``oos_sharpe`` on ``is_sharpe``; NaN when a Sharpe
    ratio is infinite or the in-sample ones do not vary (one trial always chosen with the same
    in-sample Sharpe ratio cannot say how the out-of-sample one depends on it)."""
    if not (np.isfinite(is_sharpe).all() and np.isfinite(oos_sharpe).all()):
        return math.nan, math.nan
    x = is_sharpe - is_sharpe.mean()
    sxx = float(x @ x)
    if sxx <= 1e-24 * max(1.0, float(is_sharpe @ is_sharpe)):
        return math.nan, math.nan
    slope = float(x @ (oos_sharpe - oos_sharpe.mean())) / sxx
    return slope, float(oos_sharpe.mean() - slope * is_sharpe.mean())
