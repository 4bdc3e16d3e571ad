"""A sequential change detector with a JSON-safe state: CUSUM on a fitted reference.

Why our own and not river's ``ADWIN``: the detector state must survive a restart, and river's
ADWIN keeps its window in compiled (Cython) objects whose only full serialisation is pickle, which
this project does not use. Replaying every value since the last reset would grow without bound.
A CUSUM's state is eight numbers. river's ``ADWIN()`` stays the yardstick in ``bench/bench_drift.py``.

How it works. The first ``warmup`` values after a (re)start fit a reference mean ``mu`` and
standard deviation ``sigma`` (Welford). Each later value becomes ``z = (x - mu) / sigma``, clipped
to ``±clip`` so one outlier cannot raise an alarm alone, and feeds three log-likelihood-ratio
CUSUMs (Page 1954), each ``S <- max(0, S + llr)``:

- mean up:      ``llr = d * z - d**2 / 2``     (a shift of ``+d`` sigma, ``d`` = ``mean_shift``)
- mean down:    ``llr = -d * z - d**2 / 2``
- variance up:  ``llr = (z**2 * (1 - 1/r) - ln r) / 2``  (variance times ``r`` = ``variance_ratio``)

A drift is declared when one statistic exceeds ``threshold`` (in nats; the mean time between
false alarms on i.i.d. Gaussian data grows like ``exp(threshold)``); then the detector re-fits its
reference on the next ``warmup`` values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

DriftSide = Literal["both", "up"]


@dataclass(frozen=True, slots=True)
class CusumConfig:
    warmup: int = 200
    mean_shift: float = 1.0
    variance_ratio: float = 2.0
    threshold: float = 10.0
    clip: float = 5.0
    direction: DriftSide = "both"

    def __post_init__(self) -> None:
        if self.warmup < 10:
            raise ValueError(f"CusumConfig.warmup={self.warmup}: must be >= 10")
        if self.mean_shift <= 0:
            raise ValueError(f"CusumConfig.mean_shift={self.mean_shift}: must be > 0")
        if self.variance_ratio <= 1:
            raise ValueError(f"CusumConfig.variance_ratio={self.variance_ratio}: must be > 1")
        if self.threshold <= 0 or self.clip <= 0:
            raise ValueError(
                f"CusumConfig threshold={self.threshold}, clip={self.clip}: must be > 0"
            )
        if self.direction not in ("both", "up"):
            raise ValueError(f"CusumConfig.direction={self.direction!r}: 'both' or 'up'")


@dataclass(frozen=True, slots=True)
class Detection:
    """What a detector saw when it fired."""

    side: str  # "mean_up" | "mean_down" | "variance_up"
    statistic: float
    threshold: float
    reference_mean: float
    reference_std: float
    points_since_reference: int  # values scored against the reference, up to the alarm
    window: int  # warmup + points_since_reference: the values the decision rests on


class CusumDetector:
    """Feed values one at a time; ``update`` returns a :class:`Detection` on a change.

    >>> det = CusumDetector(CusumConfig(warmup=50))
    >>> values = [(-1.0) ** i for i in range(100)] + [3.0] * 20
    >>> hits = [i for i, v in enumerate(values) if det.update(v) is not None]
    >>> hits
    [104]
    """

    def __init__(self, config: CusumConfig | None = None) -> None:
        self.config = config or CusumConfig()
        self._reset()

    def _reset(self) -> None:
        self._n = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._sigma = 0.0
        self._scored = 0
        self._up = 0.0
        self._down = 0.0
        self._var = 0.0

    @property
    def ready(self) -> bool:
        return self._n >= self.config.warmup

    @property
    def statistic(self) -> float:
        return max(self._up, self._down, self._var)

    def update(self, x: float) -> Detection | None:
        if not math.isfinite(x):
            raise ValueError(f"CusumDetector.update: value {x!r} is not finite")
        cfg = self.config
        if self._n < cfg.warmup:
            self._n += 1
            delta = x - self._mean
            self._mean += delta / self._n
            self._m2 += delta * (x - self._mean)
            if self._n == cfg.warmup:
                std = math.sqrt(self._m2 / (self._n - 1))
                # a constant reference still needs a scale; take a tiny one relative to the level
                self._sigma = std if std > 0 else max(abs(self._mean) * 1e-6, 1e-12)
            return None
        z = max(-cfg.clip, min(cfg.clip, (x - self._mean) / self._sigma))
        d, r = cfg.mean_shift, cfg.variance_ratio
        self._scored += 1
        self._up = max(0.0, self._up + d * z - d * d / 2)
        self._var = max(0.0, self._var + (z * z * (1 - 1 / r) - math.log(r)) / 2)
        if cfg.direction == "both":
            self._down = max(0.0, self._down - d * z - d * d / 2)
        stat = max(self._up, self._down, self._var)
        if stat <= cfg.threshold:
            return None
        # the first side holding the maximum, in the order mean_up, mean_down, variance_up
        if self._up == stat:
            side = "mean_up"
        elif self._down == stat:
            side = "mean_down"
        else:
            side = "variance_up"
        found = Detection(
            side=side,
            statistic=stat,
            threshold=cfg.threshold,
            reference_mean=self._mean,
            reference_std=self._sigma,
            points_since_reference=self._scored,
            window=cfg.warmup + self._scored,
        )
        self._reset()
        return found

    # --- persistence ------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "n": self._n,
            "mean": self._mean,
            "m2": self._m2,
            "sigma": self._sigma,
            "scored": self._scored,
            "up": self._up,
            "down": self._down,
            "var": self._var,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._n = int(state["n"])
        self._mean = float(state["mean"])
        self._m2 = float(state["m2"])
        self._sigma = float(state["sigma"])
        self._scored = int(state["scored"])
        self._up = float(state["up"])
        self._down = float(state["down"])
        self._var = float(state["var"])
