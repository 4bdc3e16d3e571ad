"""How an experiment shares its decisions between arms: a fixed split, or Thompson sampling.

The allocation says which arm holds a decision unit (a symbol's next position, ``experiment.py``):
only that arm's orders are real. Every arm keeps trading its own sub-ledger either way, so the
test's evidence never depends on the allocation; the allocation only decides how much of the
real account each arm risks while the evidence accrues.

Thompson sampling (W. R. Thompson, 1933; D. Russo et al., 2018, "A tutorial on Thompson
sampling") gives each arm the probability that it is the best, under a normal posterior of its
mean reward per observation. Three guards make it fit trading:

* **a floor** per arm (default 1 %): no arm is starved, so the sample-ratio check and a later
  change of fortune can still see it;
* **discounting** (factor ``discount`` per observation, A. Garivier and E. Moulines, 2011): old
  rewards fade, so a market that changed is noticed;
* **a minimum sample**: the weights stay at the fixed split until every arm has ``min_samples``
  observations, since a posterior of a dozen fat-tailed rewards means little.

The probabilities are estimated from ``draws`` posterior samples of a generator seeded by the
experiment and the observation count, so that a restarted experiment recomputes the same
weights from the same observations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from quantum_trader.experiments.sequential import FloatArray


@dataclass(frozen=True, slots=True)
class AllocationConfig:
    """``kind``: "fixed" (``weights``, in arm order; empty: equal) or "thompson"."""

    kind: str = "thompson"
    weights: tuple[float, ...] = ()
    floor: float = 0.01
    discount: float = 0.999
    min_samples: int = 100
    draws: int = 4000

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "thompson"):
            raise ValueError(f"allocation kind {self.kind!r}: expected 'fixed' or 'thompson'")
        if any(not w > 0.0 for w in self.weights):
            raise ValueError(f"allocation weights {self.weights}: every weight must be positive")
        if not 0.0 <= self.floor < 0.5:
            raise ValueError(f"allocation floor {self.floor}: must lie in [0, 0.5)")
        if not 0.0 < self.discount <= 1.0:
            raise ValueError(f"allocation discount {self.discount}: must lie in (0, 1]")
        if self.min_samples < 1 or self.draws < 100:
            raise ValueError(
                f"allocation min_samples={self.min_samples}, draws={self.draws}: "
                "need min_samples >= 1 and draws >= 100"
            )


class Allocation:
    """The current probability of each arm, updated from the arms' rewards."""

    def __init__(self, config: AllocationConfig, arms: Sequence[str], *, seed: int) -> None:
        if config.weights and len(config.weights) != len(arms):
            raise ValueError(
                f"allocation weights {config.weights}: {len(arms)} arms ({', '.join(arms)})"
            )
        if config.floor * len(arms) >= 1.0:
            raise ValueError(f"allocation floor {config.floor}: too high for {len(arms)} arms")
        if seed < 0:  # the posterior draws' generator takes none (it failed at the first draw)
            raise ValueError(f"allocation seed {seed}: must be 0 or more")
        self.config = config
        self.arms = tuple(arms)
        self.seed = seed
        raw = np.asarray(config.weights or [1.0] * len(arms), dtype=np.float64)
        self.fixed = raw / raw.sum()
        # discounted sufficient statistics per arm: weight, sum, sum of squares
        self._w = np.zeros(len(arms))
        self._s = np.zeros(len(arms))
        self._q = np.zeros(len(arms))
        self._n = np.zeros(len(arms), dtype=np.int64)  # rewards seen per arm, not discounted
        self.observations = 0
        self._active = np.ones(len(arms), dtype=bool)  # arms still in the experiment
        self._probabilities = self.fixed.copy()
        self._stale = False  # observations since the probabilities were last computed

    def observe(self, rewards: Mapping[str, float]) -> None:
        """One observation of the arms in ``rewards`` (all of them where every arm keeps its
        sub-ledger; the allocated one alone in a plain bandit)."""
        d = self.config.discount
        self._w *= d
        self._s *= d
        self._q *= d
        for arm, reward in rewards.items():
            i = self.arms.index(arm)
            self._w[i] += 1.0
            self._s[i] += reward
            self._q[i] += reward * reward
            self._n[i] += 1
        self.observations += 1
        self._stale = self.config.kind == "thompson"

    def stop(self, arm: str) -> None:
        """``arm`` leaves: it gets no more rewards and no share; the minimum sample and the
        posterior draws are over the arms left."""
        self._active[self.arms.index(arm)] = False
        self._stale = self.config.kind == "thompson"

    def probabilities(self) -> dict[str, float]:
        """The share of each arm (0 for a stopped one); they sum to 1 over the arms left.
        Computed when asked, not at every observation: the posterior draws are seeded by the
        observation count, so the answer is the same, and an experiment replayed from its
        records at a restart (or read by the API) skips the draws of every step before."""
        if self._stale:
            self._probabilities = self._thompson()
            self._stale = False
        p = np.where(self._active, self._probabilities, 0.0)
        total = float(p.sum())
        if total <= 0.0:  # the fixed split gave the arms left nothing: share them equally
            p, total = self._active.astype(np.float64), float(self._active.sum())
        return {a: float(x / total) for a, x in zip(self.arms, p, strict=True)}

    def withheld(self) -> bool:
        """Whether the weights are still the fixed split for want of a sample."""
        return self.config.kind == "thompson" and not self._enough()

    def _enough(self) -> bool:
        """Every arm left has seen its minimum sample (counted, not discounted: under bandit
        feedback a rarely drawn arm's discounted weight sinks, and the weights must not flap
        back to the fixed split each time it does)."""
        return bool(np.all(self._n[self._active] >= self.config.min_samples))

    def _thompson(self) -> FloatArray:
        if not self._enough():
            return np.array(self.fixed, dtype=np.float64)
        live = np.flatnonzero(self._active)
        w = self._w[live]
        mean = self._s[live] / w
        spread = np.maximum(self._q[live] / w - mean * mean, 1e-18)
        scale = np.sqrt(spread / w)
        rng = np.random.default_rng([self.seed, self.observations])
        draws = rng.standard_normal((self.config.draws, len(live))) * scale + mean
        wins = np.bincount(np.argmax(draws, axis=1), minlength=len(live))
        p = np.zeros(len(self.arms))
        p[live] = with_floor(np.asarray(wins / wins.sum(), dtype=np.float64), self.config.floor)
        return p


def with_floor(p: FloatArray, floor: float) -> FloatArray:
    """``p`` with every entry raised to ``floor``, the excess taken from those above it in
    proportion to their surplus.

    >>> [round(float(x), 3) for x in with_floor(np.array([1.0, 0.0, 0.0]), 0.01)]
    [0.98, 0.01, 0.01]
    """
    if floor <= 0.0:
        return p
    low = p < floor
    short = float(np.sum(floor - p[low]))
    surplus = np.where(low, 0.0, p - floor)
    out = np.where(low, floor, p - short * surplus / max(float(surplus.sum()), 1e-300))
    return np.asarray(out / out.sum(), dtype=np.float64)


def draw_arm(probabilities: Mapping[str, float], key: str, *, seed: int) -> str:
    """The arm a decision unit gets: a uniform number derived from ``seed`` and the unit's
    ``key`` (not from a generator's position), so that a unit re-asked after a restart gets the
    same arm with the same probabilities.

    >>> draw_arm({"a": 0.5, "b": 0.5}, "BTCUSDT@1", seed=7) == draw_arm(
    ...     {"a": 0.5, "b": 0.5}, "BTCUSDT@1", seed=7)
    True
    """
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    total = 0.0
    arms = list(probabilities)
    for arm in arms:
        total += probabilities[arm]
        if u < total:
            return arm
    return arms[-1]
