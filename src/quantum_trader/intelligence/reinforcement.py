"""Reinforcement: ensemble weights learned online from realised outcomes.

Method: a smoothed, discounted Hedge (exponential weights) on each member's log-loss, per symbol.
For every resolved outcome of member ``i`` with log-loss ``l``:

1. discounted evidence   ``S_i <- gamma * S_i + l``,  ``N_i <- gamma * N_i + 1``
   (``gamma`` = *discount*, 0.95: an outcome ``k`` updates old weighs ``gamma**k``; the memory is
   about ``1 / (1 - gamma)`` = 20 outcomes per member);
2. Hedge target          ``q_i = softmax_i(-beta * S_i / (N_i * (1 - gamma)))``: the discounted
   mean loss scaled back to a full memory, so a member with little evidence is not favoured for
   its short history (``beta`` = 1 nat per unit of discounted cumulative loss);
3. learning step         ``w <- (1 - lr) * w + lr * q`` (``lr`` = *learning rate*, 0.05: how far
   the weights move toward the target per outcome);
4. exploration           ``final = (1 - epsilon) * w + epsilon / K`` (``epsilon`` = *exploration*,
   0.2: a share always spread evenly, so a member is never silenced and can earn its weight back).

The adjuster multiplies the incoming weights by ``K * final_i`` and renormalises, which equals
``final`` when the incoming weights are equal.

Each outcome also feeds :class:`LiveCalibration` (the member's discounted ECE, Brier score and
log-loss on its matured labels, with the same discount): it only observes, the weights never
read it. Its status gauges ``live_ece_mean_ppm`` and ``live_brier_mean_ppm`` are the means over
the (symbol, member) pairs with enough evidence (``live_calibrated_pairs`` of them), in
millionths.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from quantum_trader.domain.signals import WeightChange
from quantum_trader.intelligence.calibration import LiveCalibration
from quantum_trader.intelligence.ledger import ResolvedPrediction
from quantum_trader.intelligence.weights import changes_between, normalise
from quantum_trader.status.registry import ModuleHandle

NAME = "reinforcement"


@dataclass(frozen=True, slots=True)
class ReinforcementConfig:
    learning_rate: float = 0.05
    discount: float = 0.95
    exploration: float = 0.2
    beta: float = 1.0

    def __post_init__(self) -> None:
        for field, value in (
            ("learning_rate", self.learning_rate),
            ("exploration", self.exploration),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"ReinforcementConfig.{field}={value}: must be within [0, 1]")
        if not 0.0 < self.discount < 1.0:
            raise ValueError(f"ReinforcementConfig.discount={self.discount}: must be in (0, 1)")
        if self.beta <= 0:
            raise ValueError(f"ReinforcementConfig.beta={self.beta}: must be > 0")


@dataclass(slots=True)
class MemberEvidence:
    loss_sum: float = 0.0  # S_i, discounted
    count: float = 0.0  # N_i, discounted
    weight: float = 0.0  # w_i before exploration


class Reinforcement:
    """Online ensemble weights per symbol; a :class:`WeightAdjuster`."""

    name = NAME

    def __init__(
        self, config: ReinforcementConfig | None = None, status: ModuleHandle | None = None
    ) -> None:
        self.config = config or ReinforcementConfig()
        self._status = status
        self._members: dict[str, dict[str, MemberEvidence]] = {}
        self.calibration = LiveCalibration(self.config.discount)

    def on_outcome(self, outcome: ResolvedPrediction) -> None:
        self.on_outcomes((outcome,))

    def on_outcomes(self, outcomes: Sequence[ResolvedPrediction]) -> None:
        """Learn from a batch of outcomes, in order; the counters are bumped once per batch."""
        calibration = self.calibration
        for outcome in outcomes:
            prediction = outcome.prediction
            self._learn(prediction.symbol, prediction.model, outcome.loss)
            calibration.update(
                prediction.symbol, prediction.model, prediction.probs, outcome.label, outcome.loss
            )
        self._count(len(outcomes))
        ece, brier = calibration.mean_ece(), calibration.mean_brier()
        if self._status is not None and ece is not None and brier is not None:
            # the means are kept up to date per label: reading them here costs O(1) per batch
            self._status.gauge("live_calibrated_pairs", calibration.mature)
            self._status.gauge("live_ece_mean_ppm", round(1e6 * ece))
            self._status.gauge("live_brier_mean_ppm", round(1e6 * brier))

    def update(self, symbol: str, model: str, loss: float) -> None:
        """Learn from a loss alone: the weights only, no calibration (it needs the votes)."""
        self._learn(symbol, model, loss)
        self._count(1)

    def _count(self, outcomes: int) -> None:
        if self._status is not None:
            self._status.count("outcomes_resolved", outcomes)
            self._status.count("weight_updates", outcomes)

    def _learn(self, symbol: str, model: str, loss: float) -> None:
        if not math.isfinite(loss) or loss < 0:
            raise ValueError(f"Reinforcement.update({symbol}, {model}): loss={loss} must be >= 0")
        cfg = self.config
        members = self._members.get(symbol)
        if members is None:
            members = self._members[symbol] = {}
        ev = members.get(model)
        if ev is None:
            # a newcomer takes an even share; the others keep their proportions
            k = len(members) + 1
            for other in members.values():
                other.weight *= (k - 1) / k
            ev = members[model] = MemberEvidence(weight=1.0 / k)
        ev.loss_sum = cfg.discount * ev.loss_sum + loss
        ev.count = cfg.discount * ev.count + 1.0
        evidence = list(members.values())
        lr = cfg.learning_rate
        keep = 1 - lr
        for member, q in zip(evidence, self._target(evidence), strict=True):
            member.weight = keep * member.weight + lr * q

    def _target(self, evidence: list[MemberEvidence]) -> list[float]:
        """The Hedge target q over ``evidence`` (in member order)."""
        cfg = self.config
        memory = 1.0 / (1.0 - cfg.discount)
        scores = [ev.loss_sum / ev.count * memory for ev in evidence if ev.count > 0]
        if len(scores) < len(evidence):
            # members without evidence (possible only in a loaded state) score the mean
            neutral = sum(scores) / len(scores) if scores else 0.0
            scores = [
                ev.loss_sum / ev.count * memory if ev.count > 0 else neutral for ev in evidence
            ]
        neg_beta = -cfg.beta
        logits = [neg_beta * score for score in scores]
        top = max(logits)
        exp = [math.exp(v - top) for v in logits]
        total = sum(exp)
        return [v / total for v in exp]

    def learned(self, symbol: str, models: list[str] | tuple[str, ...]) -> dict[str, float]:
        """Final weights (after exploration) over ``models``; equal for a symbol never seen."""
        members = self._members.get(symbol, {})
        even = 1.0 / len(models)
        raw = normalise({m: members[m].weight if m in members else even for m in models}, NAME)
        if sum(raw.values()) == 0:
            raw = dict.fromkeys(models, even)
        eps = self.config.exploration
        keep, share = 1 - eps, eps / len(models)
        return {m: keep * w + share for m, w in raw.items()}

    def adjust(
        self, symbol: str, weights: Mapping[str, float], now: int
    ) -> tuple[dict[str, float], list[WeightChange]]:
        if symbol not in self._members:
            return dict(weights), []
        learned = self.learned(symbol, tuple(weights))
        k = len(weights)
        after = normalise({m: w * k * learned[m] for m, w in weights.items()}, NAME)
        members = self._members[symbol]
        reasons = {
            m: f"discounted log-loss {ev.loss_sum / ev.count:.4f}, learned weight {learned[m]:.3f}"
            for m in weights
            if (ev := members.get(m)) is not None and ev.count > 0
        }
        return after, changes_between(NAME, weights, after, reasons)

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Learned final weights per symbol over the members seen there."""
        return {s: self.learned(s, tuple(ms)) for s, ms in self._members.items()}

    # --- persistence ------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        # insertion order is kept (JSON objects keep it): sums over members then add up in the
        # same order after a restart, bit for bit.
        return {
            "members": {
                s: {m: [ev.loss_sum, ev.count, ev.weight] for m, ev in ms.items()}
                for s, ms in self._members.items()
            },
            "calibration": self.calibration.to_state(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._members = {
            s: {m: MemberEvidence(float(v[0]), float(v[1]), float(v[2])) for m, v in ms.items()}
            for s, ms in state["members"].items()
        }
        # a state saved before the live calibration existed has none: it starts empty
        self.calibration.load_state(state.get("calibration", {}))
