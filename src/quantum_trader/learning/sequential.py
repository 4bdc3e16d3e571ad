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
observation, that the test is tuned to find quickest) and ``z = m sqrt(n) / sigma`` this is
``log Lambda = z^2/2 * n c / (1 + n c) - log(1 + n c) / 2``, free of the unit of the outcome.
sigma is estimated from the observations so far (the plug-in the paper's practice uses); no
verdict is given before ``min_blocks`` of them, so the estimate has settled.

What is observed is the per-bar difference ``champion loss - candidate loss`` on the same bar
(positive: the candidate did better). Outcomes over overlapping label windows are correlated,
so ``block`` consecutive differences are averaged into one observation (batch means): with
``block`` at least the label horizon + 1, only neighbouring blocks share windows, and sigma is
the long-run deviation (variance plus twice the lag-1 autocovariance of the block means).
The A/A figures of ``tests/learning/test_sequential.py`` check the level under peeking after
every block.
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

    def _sigma(self) -> float:
        """Long-run standard deviation of a block mean: the variance plus twice the lag-1
        autocovariance of neighbouring blocks (which share at most one label window when the
        block is at least the horizon + 1), never below the plain variance: the correction only
        makes the test more careful."""
        n = self._n
        if n < 2:
            return 0.0
        variance = self._m2 / (n - 1)
        # sum of x_i x_(i-1) - (n-1) mean^2, approximately sum (x_i - m)(x_(i-1) - m)
        lag1 = (self._c1 - (n - 1) * self._mean * self._mean) / (n - 1)
        return math.sqrt(max(variance + 2.0 * lag1, variance))

    def _log_lr(self) -> float:
        if self._n < self.config.min_blocks:
            return 0.0
        sigma = self._sigma()
        if sigma == 0.0:
            # identical outputs give identical losses: a zero difference is no evidence
            return 0.0 if self._mean == 0.0 else math.inf
        nc = self._n * self.config.effect**2
        z = self._mean * math.sqrt(self._n) / sigma
        return 0.5 * z * z * nc / (1.0 + nc) - 0.5 * math.log1p(nc)

    def evidence(self) -> Evidence:
        n = self._n
        if n == 0:
            nan = math.nan
            return Evidence(self._bars, 0, nan, 0.0, self._threshold(), nan, nan, self._verdict)
        half = math.inf
        if n >= self.config.min_blocks:
            # the means theta0 the test would not reject: |m - theta0| below this half-width
            nc = n * self.config.effect**2
            radius = (1.0 + nc) / nc * (2.0 * self._threshold() + math.log1p(nc))
            half = self._sigma() / math.sqrt(n) * math.sqrt(radius)
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
