"""Off-policy evaluation: what another policy would have earned per decision, from the log of
the decisions one policy took (issue 18, deliver 5 and 6).

A logged decision carries what the reward model may read (the context's features), the action
taken, its *propensity* (the probability with which the logging policy took that action) and
the reward the decision earned. A *target* policy is given as its action probabilities at each
logged decision (an ``(n, K)`` array). Three estimates of its mean reward per decision:

* **IPS** (inverse propensity scoring): ``mean(w_i r_i)`` with ``w_i = pi(a_i | x_i) / p_i``.
  Unbiased when every action the target may take had a positive logging probability; its
  variance grows with the weights.
* **SNIPS** (self-normalised IPS): ``sum(w_i r_i) / sum(w_i)``. Slightly biased, but invariant
  to a constant added to the rewards and usually of lower variance.
* **DR** (doubly robust): ``mean(sum_a pi(a | x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i)))``
  with ``q`` a reward model's predictions per action. Unbiased if the propensities are right
  *or* the model is; of lower variance than IPS when the model is good. The model must not
  have been fitted on the rows it predicts: :func:`cross_fitted_rewards`
  (``evaluation/reward_model.py``) fits it on the other folds.

Each estimate comes with a percentile bootstrap interval over the decisions (``block`` > 1: a
circular block bootstrap, for serially correlated decisions such as one symbol's candles) and
the weights' effective sample size ``(sum w)^2 / sum w^2`` (n when the target is the logging
policy; a few percent of n means the estimate rests on a handful of decisions). The DR
interval holds the reward model fixed (cross-fitting makes that valid asymptotically).

**Clipping** (``clip``): weights above ``clip`` are cut to it. That trades variance for bias
(an IPS estimate with non-negative rewards is then biased down); the number of clipped weights
is reported. Off by default.

**Limits.** Only the chosen action's logging probability is logged, so a target that puts
mass where the logging policy put none cannot be detected here: its estimate is biased (IPS
and SNIPS silently ignore that mass; DR covers it by the model alone). A deterministic logging
policy (the greedy PPO selector, the rule selector) has propensity 1 for what it did and 0 for
everything else: only targets that agree with it can be judged by IPS.

Two decisions, each action taken at probability 1/2; the first earned 1, the second 0. A
target that always takes the first action earns 1 per decision:

>>> took = [LoggedDecision((), 0, 0.5, 1.0, "v1"), LoggedDecision((), 1, 0.5, 0.0, "v1")]
>>> always_first = np.array([[1.0, 0.0], [1.0, 0.0]])
>>> ips(DecisionLog.of(took, 2), always_first).value
1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: how far a target's probabilities may sum from 1 at one decision
PROBABILITY_TOLERANCE = 1e-6
#: resample indices drawn per chunk of the bootstrap (bounds its memory at any log length)
_CHUNK = 1 << 22


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    """One decision as an off-policy estimate needs it.

    ``features``: what the reward model reads (e.g. the selector's observation vector);
    ``action``: the index of the action taken (``STRATEGY_NAMES`` order for the selectors);
    ``propensity``: the probability with which the logging policy took it, in (0, 1];
    ``reward``: what the decision earned; ``policy_version``: the logging policy's version.
    """

    features: tuple[float, ...]
    action: int
    propensity: float
    reward: float
    policy_version: str


@dataclass(frozen=True)
class DecisionLog:
    """Logged decisions as checked arrays (build with :meth:`of`, or directly from arrays).

    Refused, naming the decision: a propensity <= 0 or > 1, an action outside ``0..K-1``, a
    non-finite reward, propensity or feature, and arrays of different lengths.
    """

    features: FloatArray  # (n, d); d may be 0
    actions: IntArray  # (n,)
    propensities: FloatArray  # (n,)
    rewards: FloatArray  # (n,)
    versions: tuple[str, ...]  # (n,) the logging policy's version per decision
    n_actions: int

    def __post_init__(self) -> None:
        n = len(self.actions)
        lengths = {
            "features": len(self.features),
            "propensities": len(self.propensities),
            "rewards": len(self.rewards),
            "versions": len(self.versions),
        }
        wrong = {k: v for k, v in lengths.items() if v != n}
        if wrong:
            raise ValueError(f"DecisionLog: {n} actions but {wrong}: one entry per decision")
        if self.n_actions < 1:
            raise ValueError(f"DecisionLog.n_actions={self.n_actions}: must be >= 1")
        if self.features.ndim != 2:
            raise ValueError(f"DecisionLog.features: shape {self.features.shape}, not (n, d)")
        a, p, r = self.actions, self.propensities, self.rewards
        _refuse((a < 0) | (a >= self.n_actions), "action", f"outside 0..{self.n_actions - 1}", a)
        _refuse(~np.isfinite(p), "propensity", "is not finite", p)
        _refuse((p <= 0) | (p > 1), "propensity", "is outside (0, 1]", p)
        _refuse(~np.isfinite(r), "reward", "is not finite", r)
        f = self.features
        _refuse(~np.isfinite(f).all(axis=1), "features", "hold a non-finite value", f)

    @classmethod
    def of(cls, records: Sequence[LoggedDecision], n_actions: int) -> DecisionLog:
        """The log of ``records``, in their order; their features must all have one length."""
        widths = {len(r.features) for r in records}
        if len(widths) > 1:
            first = next(
                i for i, r in enumerate(records) if len(r.features) != len(records[0].features)
            )
            raise ValueError(
                f"DecisionLog.of: decision {first} has {len(records[first].features)} features, "
                f"decision 0 has {len(records[0].features)}"
            )
        width = widths.pop() if widths else 0
        return cls(
            features=np.array([r.features for r in records], dtype=np.float64).reshape(
                len(records), width
            ),
            actions=np.array([r.action for r in records], dtype=np.int64),
            propensities=np.array([r.propensity for r in records], dtype=np.float64),
            rewards=np.array([r.reward for r in records], dtype=np.float64),
            versions=tuple(r.policy_version for r in records),
            n_actions=n_actions,
        )

    def __len__(self) -> int:
        return len(self.actions)

    def logging_mean(self) -> float:
        """The logged rewards' mean: what the logging policy earned per decision."""
        return float(self.rewards.mean())


@dataclass(frozen=True, slots=True)
class OffPolicyEstimate:
    """A target policy's estimated mean reward per decision, with its bootstrap interval."""

    method: str  # "ips", "snips" or "dr"
    value: float
    low: float
    high: float
    confidence: float
    effective_sample_size: float  # (sum w)^2 / sum w^2 of the (clipped) weights
    decisions: int
    max_weight: float
    clipped: int  # weights cut to ``clip``

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "method": self.method,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "effective_sample_size": self.effective_sample_size,
            "decisions": self.decisions,
            "max_weight": self.max_weight,
            "clipped": self.clipped,
        }


@dataclass(frozen=True, slots=True)
class BootstrapSettings:
    """The interval's settings: ``samples`` resamples, ``block`` consecutive decisions per
    resampled block (1: independent decisions), the generator's ``seed``."""

    samples: int = 1000
    confidence: float = 0.95
    block: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.samples < 10 or not 0.0 < self.confidence < 1.0 or self.block < 1:
            raise ValueError(
                f"BootstrapSettings: samples={self.samples} must be >= 10, confidence="
                f"{self.confidence} in (0, 1), block={self.block} >= 1"
            )


def importance_weights(
    log: DecisionLog, target: FloatArray, clip: float | None = None
) -> tuple[FloatArray, int]:
    """``pi(a_i | x_i) / p_i`` per decision, cut to ``clip`` if given; and how many were cut."""
    probs = check_target(log, target)
    weights = probs[np.arange(len(log)), log.actions] / log.propensities
    if clip is None:
        return weights, 0
    if not (math.isfinite(clip) and clip > 0):
        raise ValueError(f"clip={clip}: must be a positive finite weight, or None")
    return np.minimum(weights, clip), int((weights > clip).sum())


def check_target(log: DecisionLog, target: FloatArray) -> FloatArray:
    """``target`` as float64 after its checks: shape ``(n, K)``, finite, non-negative, rows
    summing to 1; a refusal names the first decision at fault."""
    probs = np.asarray(target, dtype=np.float64)
    expected = (len(log), log.n_actions)
    if probs.shape != expected:
        raise ValueError(
            f"target probabilities: shape {probs.shape}, expected {expected} "
            "(one row per logged decision, one column per action)"
        )
    _refuse(~np.isfinite(probs).all(axis=1), "target probabilities", "are not all finite", probs)
    _refuse((probs < 0).any(axis=1), "target probabilities", "include a negative one", probs)
    sums = probs.sum(axis=1)
    _refuse(np.abs(sums - 1) > PROBABILITY_TOLERANCE, "target probabilities", "do not sum to 1",
            probs)  # fmt: skip
    return probs


def ips(
    log: DecisionLog,
    target: FloatArray,
    *,
    clip: float | None = None,
    bootstrap: BootstrapSettings | None = None,
) -> OffPolicyEstimate:
    """Inverse propensity scoring (see the module docstring)."""
    weights, clipped = importance_weights(log, target, clip)
    terms = weights * log.rewards
    return _estimate("ips", terms, None, weights, clipped, bootstrap)


def snips(
    log: DecisionLog,
    target: FloatArray,
    *,
    clip: float | None = None,
    bootstrap: BootstrapSettings | None = None,
) -> OffPolicyEstimate:
    """Self-normalised IPS (see the module docstring); refused when every weight is 0 (the
    target never takes an action the log holds)."""
    weights, clipped = importance_weights(log, target, clip)
    if not weights.any():
        raise ValueError(
            "snips: every importance weight is 0: the target never takes a logged action"
        )
    return _estimate("snips", weights * log.rewards, weights, weights, clipped, bootstrap)


def doubly_robust(
    log: DecisionLog,
    target: FloatArray,
    predicted: FloatArray,
    *,
    clip: float | None = None,
    bootstrap: BootstrapSettings | None = None,
) -> OffPolicyEstimate:
    """Doubly robust (see the module docstring). ``predicted``: the reward model's prediction
    per decision and action, ``(n, K)``, made without the row itself (cross-fitted)."""
    q = np.asarray(predicted, dtype=np.float64)
    if q.shape != (len(log), log.n_actions):
        raise ValueError(
            f"predicted rewards: shape {q.shape}, expected {(len(log), log.n_actions)}"
        )
    _refuse(~np.isfinite(q).all(axis=1), "predicted rewards", "are not all finite", q)
    weights, clipped = importance_weights(log, target, clip)
    probs = check_target(log, target)
    taken = q[np.arange(len(log)), log.actions]
    terms = (probs * q).sum(axis=1) + weights * (log.rewards - taken)
    return _estimate("dr", terms, None, weights, clipped, bootstrap)


def one_hot_policy(choices: Sequence[int] | IntArray, n_actions: int) -> FloatArray:
    """A deterministic target's probabilities: 1 on the action it would choose at each decision.

    >>> one_hot_policy([1, 0], 3).tolist()
    [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """
    index = np.asarray(choices, dtype=np.int64)
    if ((index < 0) | (index >= n_actions)).any():
        raise ValueError(f"one_hot_policy: a choice outside 0..{n_actions - 1}")
    out = np.zeros((len(index), n_actions))
    out[np.arange(len(index)), index] = 1.0
    return out


def _estimate(
    method: str,
    terms: FloatArray,
    normaliser: FloatArray | None,
    weights: FloatArray,
    clipped: int,
    bootstrap: BootstrapSettings | None,
) -> OffPolicyEstimate:
    """The estimate ``sum(terms) / sum(normaliser)`` (normaliser None: ones) and its interval."""
    settings = bootstrap or BootstrapSettings()
    n = len(terms)
    if n < 2:
        raise ValueError(f"{method}: {n} logged decision(s); an estimate needs at least 2")
    denominator = float(normaliser.sum()) if normaliser is not None else float(n)
    value = float(terms.sum()) / denominator
    resampled = _resample_ratios(terms, normaliser, settings)
    tail = (1.0 - settings.confidence) / 2
    low, high = np.quantile(resampled, [tail, 1.0 - tail])
    total = float(weights.sum())
    squares = float((weights * weights).sum())
    return OffPolicyEstimate(
        method=method,
        value=value,
        low=float(low),
        high=float(high),
        confidence=settings.confidence,
        effective_sample_size=total * total / squares if squares > 0 else 0.0,
        decisions=n,
        max_weight=float(weights.max()),
        clipped=clipped,
    )


def _resample_ratios(
    terms: FloatArray, normaliser: FloatArray | None, settings: BootstrapSettings
) -> FloatArray:
    """``sum(terms) / sum(normaliser)`` over each bootstrap resample of the decisions (circular
    blocks of ``settings.block``); a resample whose normaliser sums to 0 is dropped."""
    n = len(terms)
    block = min(settings.block, n)
    blocks = -(-n // block)
    rng = np.random.default_rng(settings.seed)
    offsets = np.arange(block)
    per_chunk = max(1, _CHUNK // (blocks * block))
    out: list[FloatArray] = []
    for first in range(0, settings.samples, per_chunk):
        count = min(per_chunk, settings.samples - first)
        starts = rng.integers(0, n, size=(count, blocks))
        index = ((starts[:, :, None] + offsets) % n).reshape(count, -1)[:, :n]
        numerator = terms[index].sum(axis=1)
        if normaliser is None:
            out.append(numerator / n)
            continue
        denominator = normaliser[index].sum(axis=1)
        keep = denominator > 0
        out.append(numerator[keep] / denominator[keep])
    return np.concatenate(out)


def _refuse(
    bad: npt.ArrayLike, what: str, why: str, values: npt.NDArray[Any] | None = None
) -> None:
    """Raise naming the first decision where ``bad`` holds (with its value, if given) and how
    many more there are."""
    where = np.flatnonzero(bad)
    if not len(where):
        return
    first = int(where[0])
    more = f" (and {len(where) - 1} more)" if len(where) > 1 else ""
    shown = "" if values is None else f" {values[first].tolist()}"
    raise ValueError(f"decision {first}: {what}{shown} {why}{more}")
