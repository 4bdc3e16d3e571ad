"""What an experiment stores, and the port that stores it (``adapters/sql/experiments.py``).

Each record is written when it happens, one at a time, under a key that makes a second write a
no-op: an observation by its step, an assignment by its unit. A process killed at any point
therefore leaves every record whole or absent, and a restarted experiment that is handed the
same observation or unit again recognises it instead of counting it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from quantum_trader.experiments.spec import ExperimentSpec


class ExperimentStatus(StrEnum):
    RUNNING = "running"
    CONCLUDED = "concluded"  # a verdict was reached (a winner, a broken arm, or the horizon)
    STOPPED = "stopped"  # an operator stopped it


@dataclass(frozen=True, slots=True)
class Observation:
    """One paired observation: every running arm's decision metric and guardrail readings
    over the same candle(s). ``step`` orders them and is unique per experiment."""

    step: int
    at: int  # engine time (ms)
    values: dict[str, float]
    drawdowns: dict[str, float]


@dataclass(frozen=True, slots=True)
class Assignment:
    """A decision unit given to an arm, with the probabilities it was drawn with and the
    version the arm ran then."""

    unit: str
    arm: str
    probability: float
    probabilities: dict[str, float]
    version: str
    at: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: int
    event: str
    detail: str


@dataclass(frozen=True, slots=True)
class StoredExperiment:
    spec: ExperimentSpec
    status: ExperimentStatus
    created_at: int
    verdict: str  # "" while running
    observations: list[Observation]
    assignments: list[Assignment]
    audit: list[AuditEntry]


class ExperimentStore(Protocol):
    def create(self, spec: ExperimentSpec, at: int) -> None:
        """Store a new experiment; a name that exists raises ValueError."""

    def names(self) -> list[str]: ...

    def load(self, name: str) -> StoredExperiment | None: ...

    def status(self, name: str) -> ExperimentStatus | None:
        """The stored status alone (cheap: a running feed asks it often)."""

    def add_observation(self, name: str, observation: Observation) -> bool:
        """Store it; False (and nothing written) when its step is already stored."""

    def add_assignment(self, name: str, assignment: Assignment) -> bool:
        """Store it; False when its unit is already stored."""

    def set_status(self, name: str, status: ExperimentStatus, verdict: str, at: int) -> None: ...

    def audit(self, name: str, entry: AuditEntry) -> None: ...


class MemoryExperimentStore:
    """The store in memory, for tests and runs without a database."""

    def __init__(self) -> None:
        self._rows: dict[str, StoredExperiment] = {}
        self._keys: dict[str, tuple[set[int], set[str]]] = {}  # steps and units stored

    def create(self, spec: ExperimentSpec, at: int) -> None:
        if spec.name in self._rows:
            raise ValueError(f"experiment {spec.name!r} exists")
        created = AuditEntry(at, "created", spec.to_json())
        self._rows[spec.name] = StoredExperiment(
            spec, ExperimentStatus.RUNNING, at, "", [], [], [created]
        )
        self._keys[spec.name] = (set(), set())

    def names(self) -> list[str]:
        return sorted(self._rows)

    def load(self, name: str) -> StoredExperiment | None:
        return self._rows.get(name)

    def status(self, name: str) -> ExperimentStatus | None:
        row = self._rows.get(name)
        return None if row is None else row.status

    def add_observation(self, name: str, observation: Observation) -> bool:
        steps = self._keys[name][0]
        if observation.step in steps:
            return False
        steps.add(observation.step)
        self._rows[name].observations.append(observation)
        return True

    def add_assignment(self, name: str, assignment: Assignment) -> bool:
        units = self._keys[name][1]
        if assignment.unit in units:
            return False
        units.add(assignment.unit)
        self._rows[name].assignments.append(assignment)
        return True

    def set_status(self, name: str, status: ExperimentStatus, verdict: str, at: int) -> None:
        old = self._rows[name]
        self._rows[name] = StoredExperiment(
            old.spec, status, old.created_at, verdict, old.observations, old.assignments, old.audit
        )

    def audit(self, name: str, entry: AuditEntry) -> None:
        self._rows[name].audit.append(entry)
