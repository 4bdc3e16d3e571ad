"""A running experiment: its observations, its test, its allocation and its verdict.

Every arm trades a sub-ledger of its own at the same prices, fees, slippage and funding, so
that arms never net against each other; one :class:`Observation` holds every running arm's
decision metric over the same candle. The test is on the paired difference of each arm with the
control (the first arm), one :class:`MixtureSequentialTest` per arm at alpha / (arms - 1)
(Bonferroni), read after every observation. The verdict:

* **broken arm**: an arm breached a guardrail (its drawdown); it is stopped at once, and a
  two-arm experiment ends there;
* **sample ratio mismatch**: the assignments strayed from their probabilities
  (``experiments/srm.py``): nothing built on them is trusted, and the experiment ends;
* **winner**: an arm's interval left zero; a treatment significantly worse than the control is
  a losing arm and is stopped, a significantly better one wins, as does the control when every
  treatment lost to it;
* **no difference** at the horizon, otherwise **not yet**.

Every step is in the store before it counts (``records.py``); a restarted experiment replays its
stored observations through the same code and stands where it stood.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from quantum_trader.experiments.allocation import Allocation, draw_arm
from quantum_trader.experiments.records import (
    Assignment,
    AuditEntry,
    ExperimentStatus,
    ExperimentStore,
    Observation,
    StoredExperiment,
)
from quantum_trader.experiments.sequential import MixtureSequentialTest, SequentialReading
from quantum_trader.experiments.spec import ExperimentSpec
from quantum_trader.experiments.srm import SrmCheck, srm_check


class Verdict(StrEnum):
    NOT_YET = "not yet"
    WINNER = "winner"
    BROKEN_ARM = "broken arm"
    MISMATCH = "sample ratio mismatch"
    NO_DIFFERENCE = "no difference within the horizon"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Result:
    verdict: Verdict
    arm: str | None  # the winner, or the broken arm
    evidence: str
    samples: int
    comparisons: dict[str, SequentialReading]  # treatment arm -> its difference with the control
    probabilities: dict[str, float]
    srm: SrmCheck
    stopped_arms: dict[str, str] = field(default_factory=dict)  # arm -> why

    def summary(self) -> str:
        head = self.verdict.value if self.arm is None else f"{self.verdict.value}: {self.arm}"
        return f"{head} after {self.samples} paired observations; {self.evidence}"


#: the promoter is told the winner (``app/ab_testing.py`` promotes a registry version); what it
#: returns is audited
Promoter = Callable[[ExperimentSpec, Result], str]


class Experiment:
    """One experiment bound to its store. Build with :meth:`start` (new or resumed)."""

    def __init__(self, stored: StoredExperiment, store: ExperimentStore) -> None:
        spec = stored.spec
        self.spec = spec
        self.store = store
        self.status = stored.status
        self.created_at = stored.created_at
        treatments = spec.arm_names[1:]
        alpha = spec.alpha / len(treatments)
        self.tests = {
            arm: MixtureSequentialTest(
                1, alpha=alpha, horizon=spec.horizon, min_samples=spec.min_samples
            )
            for arm in treatments
        }
        self.allocation = Allocation(spec.allocation, spec.arm_names, seed=spec.seed)
        self.stopped: dict[str, str] = {}
        self.last_step: int | None = None  # the last step counted
        self.assignments: dict[str, Assignment] = {}
        self.counts = dict.fromkeys(spec.arm_names, 0)
        self.expected = dict.fromkeys(spec.arm_names, 0.0)
        self.result = self._read()
        for observation in stored.observations:
            self._apply(observation)
        for assignment in stored.assignments:
            self._count(assignment)
        self.result = self._read()
        self.promoter: Promoter | None = None
        if self.status is not ExperimentStatus.RUNNING:
            self.result = self._final(stored.verdict)
        elif self.result.verdict is not Verdict.NOT_YET:
            # killed after the deciding record was stored, before its verdict was: conclude now
            # (as the uninterrupted run did at that record; no promoter is bound yet, and the
            # caller that binds one reads the verdict from ``result``)
            self._conclude(self.last_step if self.last_step is not None else stored.created_at)

    @staticmethod
    def start(store: ExperimentStore, spec: ExperimentSpec, at: int) -> Experiment:
        """``spec``'s experiment: created at ``at``, or resumed where its store left it (a
        stored experiment of that name must have been declared with the same spec)."""
        stored = store.load(spec.name)
        if stored is None:
            Allocation(spec.allocation, spec.arm_names, seed=spec.seed)  # refuses before storing
            store.create(spec, at)
            stored = store.load(spec.name)
            assert stored is not None
        elif stored.spec != spec:
            raise ValueError(
                f"experiment {spec.name!r} exists with another spec ({stored.spec.to_json()}); "
                "an experiment's declaration cannot change once it runs: use a new name"
            )
        return Experiment(stored, store)

    @property
    def running(self) -> bool:
        return self.status is ExperimentStatus.RUNNING

    @property
    def arms(self) -> tuple[str, ...]:
        """The arms still running."""
        return tuple(a for a in self.spec.arm_names if a not in self.stopped)

    # ------------------------------------------------------------------ observations
    def observe(self, observation: Observation) -> bool:
        """Store and count one paired observation; False when it is not counted: the experiment
        is over, or the step is not after the last one counted (a run that resumes, or a new run
        on the same experiment, hands over candles it already saw: never counted twice)."""
        if not self.running or (self.last_step is not None and observation.step <= self.last_step):
            return False
        missing = [a for a in self.arms if a not in observation.values]
        if missing:
            raise ValueError(
                f"experiment {self.spec.name}, step {observation.step}: no value for {missing}"
            )
        if not self.store.add_observation(self.spec.name, observation):
            self.last_step = observation.step
            return False
        self._apply(observation, audit=True)
        self.result = self._read()
        if self.result.verdict is not Verdict.NOT_YET:
            self._conclude(observation.at)
        return True

    def _apply(self, observation: Observation, *, audit: bool = False) -> None:
        self.last_step = observation.step
        values = observation.values
        control = values[self.spec.control]
        for arm, test in self.tests.items():
            if arm not in self.stopped:
                test.update(np.array([values[arm] - control]))
        self.allocation.observe({a: values[a] for a in self.arms})
        limit = self.spec.guardrails.get("max_drawdown")
        for arm in self.arms:
            dd = observation.drawdowns.get(arm, 0.0)
            if limit is not None and dd > limit:
                self._stop_arm(arm, f"drawdown {dd:.1%} past its guardrail {limit:.0%}",
                               observation.at, audit=audit)  # fmt: skip
        for arm, test in self.tests.items():
            reading = test.reading()
            lost = arm not in self.stopped and reading.rejected and reading.mean < 0.0
            if lost and len(self.arms) > 2:  # with two arms, the control simply wins
                self._stop_arm(arm, "lost to the control", observation.at, audit=audit)

    def _stop_arm(self, arm: str, why: str, at: int, *, audit: bool) -> None:
        self.stopped[arm] = why
        self.allocation.stop(arm)
        if audit:
            self.store.audit(self.spec.name, AuditEntry(at, "arm_stopped", f"{arm}: {why}"))

    # ------------------------------------------------------------------ assignments
    def assign(self, unit: str, at: int, version: Callable[[str], str]) -> Assignment | None:
        """The arm that holds decision ``unit``: drawn now with the current probabilities
        (over the running arms), or the one it got before. None once the experiment is over."""
        if unit in self.assignments:
            return self.assignments[unit]
        if not self.running:
            return None
        probabilities = self.probabilities()
        arm = draw_arm(probabilities, unit, seed=self.spec.seed)
        assignment = Assignment(unit, arm, probabilities[arm], probabilities, version(arm), at)
        self.record(assignment)
        return assignment

    def record(self, assignment: Assignment) -> bool:
        """Store and count an assignment made elsewhere (or by :meth:`assign`); False when it
        is not counted (its unit has one, or the experiment is over)."""
        if assignment.unit in self.assignments or not self.running:
            return False
        if not self.store.add_assignment(self.spec.name, assignment):
            return False
        self._count(assignment)
        self.result = self._read()
        if self.running and self.result.verdict is Verdict.MISMATCH:
            self._conclude(assignment.at)
        return True

    def _count(self, assignment: Assignment) -> None:
        self.assignments[assignment.unit] = assignment
        self.counts[assignment.arm] = self.counts.get(assignment.arm, 0) + 1
        for arm, p in assignment.probabilities.items():
            self.expected[arm] = self.expected.get(arm, 0.0) + p

    def probabilities(self) -> dict[str, float]:
        """The allocation over the running arms (a stopped arm's share goes to the others)."""
        return {a: v for a, v in self.allocation.probabilities().items() if a not in self.stopped}

    # ------------------------------------------------------------------ verdict
    def _read(self) -> Result:
        readings = {arm: test.reading() for arm, test in self.tests.items()}
        samples = max((r.samples for r in readings.values()), default=0)
        srm = srm_check(self.counts, self.expected)
        probabilities = self.probabilities() if self.arms else {}

        def result(verdict: Verdict, arm: str | None, evidence: str) -> Result:
            return Result(verdict, arm, evidence, samples, readings, probabilities, srm,
                          dict(self.stopped))  # fmt: skip

        text = "; ".join(
            [f"{a} - {self.spec.control}: {_interval(r)}" for a, r in readings.items()]
            + [srm.summary()]
        )
        broken = [a for a, why in self.stopped.items() if "guardrail" in why]
        if broken and (len(self.spec.arms) == 2 or self.spec.control in broken):
            return result(Verdict.BROKEN_ARM, broken[0], f"{self.stopped[broken[0]]}; {text}")
        if srm.alarm:
            return result(Verdict.MISMATCH, None, text)
        winners = [a for a, r in readings.items() if r.rejected and r.mean > 0 and a in self.arms]
        if winners:
            best = max(winners, key=lambda a: readings[a].mean)
            return result(Verdict.WINNER, best, text)
        if all(a in self.stopped or (r.rejected and r.mean < 0) for a, r in readings.items()):
            return result(Verdict.WINNER, self.spec.control, text)
        if samples >= self.spec.horizon:
            return result(Verdict.NO_DIFFERENCE, None, text)
        return result(Verdict.NOT_YET, None, text)

    def _final(self, verdict: str) -> Result:
        """The result of an experiment that is over: a concluded one reads as it concluded (its
        records give the same verdict again); a stopped one says why it was stopped."""
        current = self._read()
        if self.status is not ExperimentStatus.STOPPED:
            return current
        return Result(Verdict.STOPPED, None, verdict, current.samples, current.comparisons,
                      current.probabilities, current.srm, current.stopped_arms)  # fmt: skip

    def _conclude(self, at: int) -> None:
        result = self.result
        self.status = ExperimentStatus.CONCLUDED
        self.store.set_status(self.spec.name, self.status, result.summary(), at)
        self.store.audit(self.spec.name, AuditEntry(at, "concluded", result.summary()))
        if result.verdict is Verdict.WINNER and self.promoter is not None:
            outcome = self.promoter(self.spec, result)
            self.store.audit(self.spec.name, AuditEntry(at, "promotion", outcome))

    def refresh(self) -> bool:
        """Take up a stop made elsewhere (the operator's ``experiments stop`` while a run feeds
        the experiment); True when it was stopped."""
        stored = self.store.status(self.spec.name)
        if self.running and stored is ExperimentStatus.STOPPED:
            self.status = stored
            self.result = self._final("stopped elsewhere (quantum-trader experiments stop)")
            return True
        return False

    def stop(self, at: int, reason: str) -> None:
        """The operator's stop: no more observations or assignments; the evidence stays."""
        if not self.running:
            raise ValueError(f"experiment {self.spec.name} is already {self.status.value}")
        self.status = ExperimentStatus.STOPPED
        text = f"stopped: {reason}; evidence then: {self._read().evidence}"
        self.store.set_status(self.spec.name, self.status, text, at)
        self.store.audit(self.spec.name, AuditEntry(at, "stopped", reason))
        self.result = self._final(text)

    def summary(self) -> str:
        shares = ", ".join(f"{a} {p:.0%}" for a, p in self.result.probabilities.items())
        units = sum(self.counts.values())
        return (
            f"{self.spec.name} [{self.status.value}] {self.result.summary()}; "
            f"allocation {shares} over {units} units"
        )


def _interval(r: SequentialReading) -> str:
    if r.low is None or r.high is None:
        return f"mean {r.mean:+.3f} over {r.samples}, no interval yet"
    return f"mean {r.mean:+.3f} [{r.low:+.3f}, {r.high:+.3f}] over {r.samples}"
