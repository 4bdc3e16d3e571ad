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
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quantum_trader.domain.signals import WeightChange
from quantum_trader.intelligence.ledger import Outcome
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

    def on_outcome(self, outcome: Outcome) -> None:
        self.update(outcome.symbol, outcome.model, outcome.loss)

    def update(self, symbol: str, model: str, loss: float) -> None:
        if not math.isfinite(loss) or loss < 0:
            raise ValueError(f"Reinforcement.update({symbol}, {model}): loss={loss} must be >= 0")
        cfg = self.config
        members = self._members.setdefault(symbol, {})
        if model not in members:
            # a newcomer takes an even share; the others keep their proportions
            k = len(members) + 1
            for ev in members.values():
                ev.weight *= (k - 1) / k
            members[model] = MemberEvidence(weight=1.0 / k)
        ev = members[model]
        ev.loss_sum = cfg.discount * ev.loss_sum + loss
        ev.count = cfg.discount * ev.count + 1.0
        target = self._target(members)
        for name, member in members.items():
            member.weight = (1 - cfg.learning_rate) * member.weight + cfg.learning_rate * target[
                name
            ]
        if self._status is not None:
            self._status.count("outcomes_resolved")
            self._status.count("weight_updates")

    def _target(self, members: Mapping[str, MemberEvidence]) -> dict[str, float]:
        cfg = self.config
        memory = 1.0 / (1.0 - cfg.discount)
        scores = {m: ev.loss_sum / ev.count * memory for m, ev in members.items() if ev.count > 0}
        neutral = sum(scores.values()) / len(scores) if scores else 0.0
        logits = {m: -cfg.beta * scores.get(m, neutral) for m in members}
        top = max(logits.values())
        exp = {m: math.exp(v - top) for m, v in logits.items()}
        total = sum(exp.values())
        return {m: v / total for m, v in exp.items()}

    def learned(self, symbol: str, models: list[str] | tuple[str, ...]) -> dict[str, float]:
        """Final weights (after exploration) over ``models``; equal for a symbol never seen."""
        members = self._members.get(symbol, {})
        raw = {m: members[m].weight if m in members else 1.0 / len(models) for m in models}
        raw = normalise(raw, NAME)
        if sum(raw.values()) == 0:
            raw = {m: 1.0 / len(models) for m in models}
        eps = self.config.exploration
        return {m: (1 - eps) * w + eps / len(models) for m, w in raw.items()}

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
            for m, ev in members.items()
            if m in weights and ev.count > 0
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
            }
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._members = {
            s: {m: MemberEvidence(float(v[0]), float(v[1]), float(v[2])) for m, v in ms.items()}
            for s, ms in state["members"].items()
        }
