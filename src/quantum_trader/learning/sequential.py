"""An always-valid paired test: may the candidate replace the champion, or must it go?

A shadow or canary is watched bar after bar, and someone (a rule) looks at the evidence after
every matured label. A fixed-sample test read that way rejects far more often than its level
says; a *mixture sequential probability ratio test* (mSPRT) does not. Its statistic is a
likelihood ratio averaged over a normal prior on the effect, and by Ville's inequality it ever
crosses ``1/alpha`` under the null with probability at most ``alpha``, however often it is read.

Reference (the formulas are written from the paper): R. Johari, L. Pekelis, D. Walsh (2017),
"Always Valid Inference: Bringing Sequential Analysis to A/B Testing", arXiv:1512.04922. For
observations of mean theta and variance sigma^2 and a N(0, tau^2) mixture over theta, after n
observations of mean m::

    Lambda_n = sqrt(sigma^2 / (sigma^2 + n tau^2)) * exp(n^2 tau^2 m^2 / (2 sigma^2 (sigma^2 + n tau^2)))

With ``tau^2 = c * sigma^2`` (``c = effect**2``: the effect, in standard deviations of one
observation, that the test is tuned to find quickest) this is free of the unit of the outcome.
sigma is not known. Plugging in its running estimate (what this module did first) is only
valid in the limit: read after every block from 20 blocks on, the estimate is still noisy and
the test crossed more often than ``alpha`` (6.2 % two-sided on MA(4) differences in blocks of
5, 600 replicates, the script below). So sigma is integrated out instead, with the scale-free
(right Haar) prior ``1/sigma`` under both hypotheses. For n observations with sum S and sum of
squares V the ratio is::

    Lambda_n = (1 + n c)^(-1/2) * (V / (V - c S^2 / (1 + n c)))^(n/2)

a Bayes factor for the mean with a nuisance scale; such ratios are test martingales for the
scale-invariant part of the data, so Ville's bound holds at every look without knowing sigma
(exactly for normal observations: H. Robbins (1970) and T. L. Lai (1976) for the mixture
t-test; A. Perez-Ortiz, T. Lardy, R. de Heide, P. Grunwald (2024), "E-statistics, group
invariance and anytime-valid testing", Annals of Statistics, for the group-invariance argument).

What is observed is the per-bar difference ``champion loss - candidate loss`` on the same bar
(positive: the candidate did better). Outcomes over overlapping label windows are correlated,
so ``block`` consecutive differences are averaged into one observation (batch means): with
``block`` at least the label horizon + 1, only neighbouring blocks share windows. Their
correlation makes the spread of S larger than V suggests, by the long-run variance ratio
``rho = (variance + 2 lag-1 autocovariance) / variance`` of the block means (never below 1: the
correction only makes the test more careful); S^2 is divided by it. Levels, read after every
block (1,000 seeded replicates; ``tests/learning/test_sequential.py`` checks them with fewer),
up to 1,000 and 3,000 bars: iid normal 2.9 % and 3.4 %, MA(4) in blocks of 5 2.8 % and 4.4 %,
MA(4) of t(3) noise in blocks of 5 3.3 % and 2.9 %.
The plug-in statistic stays as an option (``plug_in``) for the production watch, which looks
for failures, not fine differences: ``z^2/2 * n c / (1 + n c) - log(1 + n c) / 2`` with
``z = m sqrt(n) / (sigma sqrt(rho))``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    CONTINUE = "CONTINUE"  # not enough evidence either way yet
    BETTER = "BETTER"  # the candidate's loss is lower than the champion's
    WORSE = "WORSE"  # the candidate's loss is higher


@dataclass(frozen=True, slots=True)
class SequentialConfig:
    alpha: float = 0.05  # chance of any verdict when candidate and champion are equal
    effect: float = 0.25  # effect size (in sd of one block) the mixture is tuned to
    block: int = 1  # per-bar differences averaged into one observation
    min_blocks: int = 20  # no verdict before this many observations
    # sigma integrated out (valid at every look) or its running estimate plugged in (valid in
    # the limit, quicker on large effects: the production watch's choice, see shadow.py)
    plug_in: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"SequentialConfig.alpha={self.alpha}: must be in (0, 1)")
        if not (math.isfinite(self.effect) and self.effect > 0.0):
            raise ValueError(f"SequentialConfig.effect={self.effect}: must be a positive number")
        if self.block < 1:
            raise ValueError(f"SequentialConfig.block={self.block}: must be at least 1")
        if self.min_blocks < 2:
            raise ValueError(f"SequentialConfig.min_blocks={self.min_blocks}: must be at least 2")


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the test has seen, for status lines and audit reasons."""

    bars: int  # per-bar differences received
    blocks: int  # observations (block means) tested
    mean: float  # mean per-bar difference over the tested blocks (nan before any)
    log_lr: float  # log of the mixture likelihood ratio (0 before min_blocks)
    threshold: float  # log(1/alpha): a verdict is given at or above it
    low: float  # always-valid confidence interval of the mean difference
    high: float
    verdict: Verdict

    def describe(self) -> str:
        if self.blocks == 0:
            return f"{self.bars} bars, no block complete yet"
        return (
            f"{self.bars} bars in {self.blocks} blocks, mean difference {self.mean:+.4g} "
            f"[{self.low:+.4g}, {self.high:+.4g}], log LR {self.log_lr:.2f} of "
            f"{self.threshold:.2f}: {self.verdict}"
        )


class PairedSequentialTest:
    """mSPRT of H0: the mean per-bar difference (champion loss - candidate loss) is 0.

    Feed differences with :meth:`add`; :attr:`verdict` is CONTINUE until the evidence crosses
    the threshold, then BETTER or WORSE for good (the test has stopped: later data changes
    nothing). The state is a small mapping (:meth:`state`, :meth:`from_state`), saved so that
    a restart continues the same test instead of starting a fresh one, which would spend the
    level again.
    """

    def __init__(self, config: SequentialConfig | None = None) -> None:
        self.config = config or SequentialConfig()
        self._bars = 0
        self._partial_sum = 0.0
        self._partial_count = 0
        self._n = 0  # blocks
        self._mean = 0.0  # Welford over block means
        self._m2 = 0.0
        self._last = 0.0  # the previous block mean, and the lag-1 co-moment of neighbours
        self._c1 = 0.0
        self._verdict = Verdict.CONTINUE

    @property
    def verdict(self) -> Verdict:
        return self._verdict

    @property
    def blocks(self) -> int:
        return self._n

    def add(self, difference: float) -> Verdict:
        """One bar's ``champion loss - candidate loss``; returns the verdict after it."""
        if not math.isfinite(difference):
            raise ValueError(f"paired difference {difference!r}: must be a finite number")
        self._bars += 1
        self._partial_sum += difference
        self._partial_count += 1
        if self._partial_count == self.config.block:
            self._add_block(self._partial_sum / self.config.block)
            self._partial_sum = 0.0
            self._partial_count = 0
        return self._verdict

    def extend(self, differences: Iterable[float]) -> Verdict:
        for difference in differences:
            self.add(difference)
        return self._verdict

    def _add_block(self, value: float) -> None:
        if self._n > 0:
            self._c1 += self._last * value
        self._last = value
        self._n += 1
        delta = value - self._mean
        self._mean += delta / self._n
        self._m2 += delta * (value - self._mean)
        if self._verdict is Verdict.CONTINUE and self._log_lr() >= self._threshold():
            self._verdict = Verdict.BETTER if self._mean > 0 else Verdict.WORSE

    def _threshold(self) -> float:
        return math.log(1.0 / self.config.alpha)

    def _variance_and_ratio(self) -> tuple[float, float]:
        """Variance of the block means, and the long-run ratio ``rho`` (see the module doc):
        neighbouring blocks share at most one label window when the block is at least the
        horizon + 1, so the lag-1 autocovariance is the correction."""
        n = self._n
        variance = self._m2 / (n - 1)
        if variance <= 0.0:
            return 0.0, 1.0
        # sum of x_i x_(i-1) - (n-1) mean^2, approximately sum (x_i - m)(x_(i-1) - m)
        lag1 = (self._c1 - (n - 1) * self._mean * self._mean) / (n - 1)
        return variance, max((variance + 2.0 * lag1) / variance, 1.0)

    def _sums(self) -> tuple[float, float, float]:
        """``c S^2 / rho`` (the effect's share of the sum), V, and ``n c``."""
        n = self._n
        _, rho = self._variance_and_ratio()
        total = self._mean * n
        squares = self._m2 + n * self._mean * self._mean
        nc = n * self.config.effect**2
        return self.config.effect**2 * total * total / rho, squares, nc

    def _log_lr(self) -> float:
        if self._n < self.config.min_blocks:
            return 0.0
        if self._m2 <= 0.0:
            # identical outputs give identical losses: a zero difference is no evidence
            return 0.0 if self._mean == 0.0 else math.inf
        if self.config.plug_in:
            variance, rho = self._variance_and_ratio()
            nc = self._n * self.config.effect**2
            z2 = self._mean * self._mean * self._n / (variance * rho)
            return 0.5 * z2 * nc / (1.0 + nc) - 0.5 * math.log1p(nc)
        signal, squares, nc = self._sums()
        rest = squares - signal / (1.0 + nc)
        if rest <= 0.0:
            return math.inf
        return 0.5 * self._n * math.log(squares / rest) - 0.5 * math.log1p(nc)

    def _half_width(self) -> float:
        """Half-width of the always-valid interval: the means theta0 that the same test, run on
        the differences minus theta0, would not reject (a quadratic in ``m - theta0``)."""
        n = self._n
        if self._m2 <= 0.0:
            return 0.0
        variance, rho = self._variance_and_ratio()
        nc = n * self.config.effect**2
        if self.config.plug_in:
            radius = (1.0 + nc) / nc * (2.0 * self._threshold() + math.log1p(nc))
            return math.sqrt(variance * rho / n * radius)
        # reject theta0 when V(theta0) / (V(theta0) - c' S(theta0)^2 / (1 + nc)) >= k
        k = math.exp(2.0 * (self._threshold() + 0.5 * math.log1p(nc)) / n)
        keep = 1.0 - 1.0 / k
        slope = self.config.effect**2 / rho * n * n / (1.0 + nc) - n * keep
        if slope <= 0.0:
            return math.inf
        return math.sqrt(self._m2 * keep / slope)

    def evidence(self) -> Evidence:
        n = self._n
        if n == 0:
            nan = math.nan
            return Evidence(self._bars, 0, nan, 0.0, self._threshold(), nan, nan, self._verdict)
        half = math.inf
        if n >= self.config.min_blocks:
            half = self._half_width()
        return Evidence(
            self._bars,
            n,
            self._mean,
            self._log_lr(),
            self._threshold(),
            self._mean - half,
            self._mean + half,
            self._verdict,
        )

    def state(self) -> dict[str, Any]:
        """Everything needed to continue this test elsewhere (JSON-safe)."""
        return {
            "alpha": self.config.alpha,
            "effect": self.config.effect,
            "block": self.config.block,
            "min_blocks": self.config.min_blocks,
            "plug_in": self.config.plug_in,
            "bars": self._bars,
            "partial_sum": self._partial_sum,
            "partial_count": self._partial_count,
            "n": self._n,
            "mean": self._mean,
            "m2": self._m2,
            "last": self._last,
            "c1": self._c1,
            "verdict": self._verdict.value,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PairedSequentialTest:
        try:
            config = SequentialConfig(
                float(state["alpha"]),
                float(state["effect"]),
                int(state["block"]),
                int(state["min_blocks"]),
                bool(state.get("plug_in", False)),
            )
            test = cls(config)
            test._bars = int(state["bars"])
            test._partial_sum = float(state["partial_sum"])
            test._partial_count = int(state["partial_count"])
            test._n = int(state["n"])
            test._mean = float(state["mean"])
            test._m2 = float(state["m2"])
            test._last = float(state["last"])
            test._c1 = float(state["c1"])
            test._verdict = Verdict(state["verdict"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"sequential test state {dict(state)!r}: {exc}") from exc
        return test
