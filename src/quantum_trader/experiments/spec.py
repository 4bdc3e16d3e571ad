"""What an experiment is, declared before it starts: arms, one decision metric, guardrails,
allocation and the test's error rate and horizon. Persisted as JSON (``to_json``/``from_json``);
a stored spec that does not parse is refused with the field that is wrong."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from quantum_trader.experiments.allocation import AllocationConfig

#: the decision metrics an experiment can declare, with what one observation of an arm is
METRICS: dict[str, str] = {
    "net_return_bp": "the arm's sub-ledger equity return over one candle, in basis points, "
    "net of fees, slippage and funding",
}
#: the guardrails an experiment can declare: an arm past the limit is a broken arm
GUARDRAILS: dict[str, str] = {
    "max_drawdown": "the arm's sub-ledger drawdown from its peak equity, as a fraction",
}
#: shadow: no arm's orders are real (every arm on its sub-ledger, allocation drawn and
#: recorded); route: the allocated arm's positions are copied to the real account
MODES = ("shadow", "route")
ARM_KINDS = ("policy", "model", "strategy", "sizer")
#: paired candles before an experiment may give a verdict (the CLI's default too)
MIN_SAMPLES = 100
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$")


class SpecError(ValueError):
    """An experiment spec that cannot run, with the field that is wrong."""


@dataclass(frozen=True, slots=True)
class ArmSpec:
    name: str
    kind: str = "policy"
    ref: str = ""  # what the arm runs: a policy line, a model version, a configuration

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise SpecError(f"arm name {self.name!r}: letters, digits and _.:@- only, 1-100")
        if self.kind not in ARM_KINDS:
            raise SpecError(f"arm {self.name}: kind {self.kind!r} is not one of {ARM_KINDS}")


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    """The first arm is the control: every other arm is tested against it."""

    name: str
    arms: tuple[ArmSpec, ...]
    metric: str = "net_return_bp"
    guardrails: Mapping[str, float] = field(default_factory=lambda: {"max_drawdown": 0.25})
    allocation: AllocationConfig = field(default_factory=AllocationConfig)
    alpha: float = 0.05
    horizon: int = 4000  # paired observations; at the horizon without a verdict it stops
    min_samples: int = MIN_SAMPLES
    mode: str = "shadow"
    seed: int = 0

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise SpecError(f"experiment name {self.name!r}: letters, digits and _.:@- only")
        names = [a.name for a in self.arms]
        if len(names) < 2 or len(set(names)) != len(names):
            raise SpecError(f"experiment {self.name}: arms {names} must be 2 or more, distinct")
        if self.metric not in METRICS:
            raise SpecError(
                f"experiment {self.name}: metric {self.metric!r} is not in {list(METRICS)}"
            )
        if not isinstance(self.guardrails, Mapping):
            raise SpecError(f"experiment {self.name}: guardrails {self.guardrails!r} is not a map")
        for guard, limit in self.guardrails.items():
            if guard not in GUARDRAILS or not 0.0 < float(limit) <= 1.0:
                raise SpecError(
                    f"experiment {self.name}: guardrail {guard}={limit} (known: "
                    f"{list(GUARDRAILS)}, limit in (0, 1])"
                )
        if not 0.0 < self.alpha < 0.5:
            raise SpecError(f"experiment {self.name}: alpha={self.alpha} must lie in (0, 0.5)")
        if not 2 <= self.min_samples <= self.horizon:
            raise SpecError(
                f"experiment {self.name}: need 2 <= min_samples ({self.min_samples}) <= "
                f"horizon ({self.horizon})"
            )
        a = self.allocation
        if a.weights and len(a.weights) != len(names):
            raise SpecError(f"experiment {self.name}: allocation weights {a.weights} for "
                            f"{len(names)} arms")  # fmt: skip
        if a.floor * len(names) >= 1.0:
            raise SpecError(f"experiment {self.name}: allocation floor {a.floor} is too high "
                            f"for {len(names)} arms")  # fmt: skip
        if self.mode not in MODES:
            raise SpecError(f"experiment {self.name}: mode {self.mode!r} is not one of {MODES}")
        if self.seed < 0:  # numpy's generators take none below 0 (the Thompson draws failed)
            raise SpecError(f"experiment {self.name}: seed={self.seed} must be 0 or more")

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    @property
    def control(self) -> str:
        return self.arms[0].name

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str, *, where: str = "experiment spec") -> ExperimentSpec:
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise TypeError(f"{text[:80]!r} is not a JSON object")
            arms = tuple(ArmSpec(**a) for a in raw.pop("arms"))
            alloc: dict[str, Any] = dict(raw.pop("allocation"))
            alloc["weights"] = tuple(alloc.get("weights", ()))
            allocation = AllocationConfig(**alloc)
            return ExperimentSpec(arms=arms, allocation=allocation, **raw)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # SpecError included
            raise SpecError(f"{where}: {exc}") from exc
