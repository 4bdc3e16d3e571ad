"""The experiments' store in SQL (SQLite or PostgreSQL): implements
``experiments.records.ExperimentStore``.

Each write is its own transaction. An observation or assignment whose key is already stored is
refused by the primary key and reported as not written, which is how a restarted experiment
that is handed a step or unit again knows not to count it twice. The route-mode router's state
(``experiments.router.RouterState``) is one row per experiment, replaced when it changes.
"""

from __future__ import annotations

import json

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from quantum_trader.adapters.sql.tables_experiments import (
    experiment_assignments,
    experiment_audit,
    experiment_observations,
    experiment_router_state,
    experiments,
)
from quantum_trader.experiments.records import (
    Assignment,
    AuditEntry,
    ExperimentStatus,
    Observation,
    StoredExperiment,
)
from quantum_trader.experiments.router import RouterState, UnitScale
from quantum_trader.experiments.spec import ExperimentSpec


class SqlExperimentStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, spec: ExperimentSpec, at: int) -> None:
        row = dict(name=spec.name, spec_json=spec.to_json(), status=ExperimentStatus.RUNNING.value,
                   created_at=at, updated_at=at, verdict="")  # fmt: skip
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(experiments).values(**row))
                conn.execute(insert(experiment_audit).values(
                    experiment=spec.name, at=at, event="created", detail=spec.to_json()))  # fmt: skip
        except IntegrityError as exc:
            raise ValueError(f"experiment {spec.name!r} exists") from exc

    def names(self) -> list[str]:
        with self._engine.connect() as conn:
            return [
                str(n) for n in conn.execute(select(experiments.c.name).order_by("name")).scalars()
            ]

    def load(self, name: str) -> StoredExperiment | None:
        o, a, u = experiment_observations, experiment_assignments, experiment_audit
        with self._engine.connect() as conn:
            head = conn.execute(select(experiments).where(experiments.c.name == name)).one_or_none()
            if head is None:
                return None
            obs = conn.execute(select(o).where(o.c.experiment == name).order_by(o.c.step)).all()
            assigned = conn.execute(
                select(a).where(a.c.experiment == name).order_by(a.c.at, a.c.unit)
            ).all()
            audit = conn.execute(select(u).where(u.c.experiment == name).order_by(u.c.id)).all()
        where = f"stored experiment {name!r} (table experiments)"
        try:
            return StoredExperiment(
                ExperimentSpec.from_json(head.spec_json, where=where),
                ExperimentStatus(head.status),
                int(head.created_at),
                str(head.verdict),
                [Observation(int(r.step), int(r.at), _floats(r.values_json), _floats(r.drawdowns_json))
                 for r in obs],
                [Assignment(str(r.unit), str(r.arm), float(r.probability),
                            _floats(r.probabilities_json), str(r.version), int(r.at))
                 for r in assigned],
                [AuditEntry(int(r.at), str(r.event), str(r.detail)) for r in audit],
            )  # fmt: skip
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: {exc}") from exc

    def status(self, name: str) -> ExperimentStatus | None:
        with self._engine.connect() as conn:
            found = conn.execute(
                select(experiments.c.status).where(experiments.c.name == name)
            ).scalar_one_or_none()
        return None if found is None else ExperimentStatus(found)

    def add_observation(self, name: str, observation: Observation) -> bool:
        row = dict(experiment=name, step=observation.step, at=observation.at,
                   values_json=json.dumps(observation.values, sort_keys=True),
                   drawdowns_json=json.dumps(observation.drawdowns, sort_keys=True))  # fmt: skip
        return self._insert_once(name, insert(experiment_observations).values(**row))

    def add_assignment(self, name: str, assignment: Assignment) -> bool:
        row = dict(experiment=name, unit=assignment.unit, arm=assignment.arm,
                   probability=assignment.probability,
                   probabilities_json=json.dumps(assignment.probabilities, sort_keys=True),
                   version=assignment.version, at=assignment.at)  # fmt: skip
        return self._insert_once(name, insert(experiment_assignments).values(**row))

    def _insert_once(self, name: str, statement: object) -> bool:
        """False when the key is stored already; an unknown experiment raises KeyError."""
        try:
            with self._engine.begin() as conn:
                conn.execute(statement)  # type: ignore[call-overload]
        except IntegrityError:
            if self.status(name) is None:
                raise KeyError(f"no experiment {name!r} in the store") from None
            return False
        return True

    def set_status(self, name: str, status: ExperimentStatus, verdict: str, at: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(experiments).where(experiments.c.name == name)
                         .values(status=status.value, verdict=verdict, updated_at=at))  # fmt: skip

    def audit(self, name: str, entry: AuditEntry) -> None:
        with self._engine.begin() as conn:
            conn.execute(insert(experiment_audit).values(
                experiment=name, at=entry.at, event=entry.event, detail=entry.detail))  # fmt: skip

    # ------------------------------------------------------------------ the router's state
    def load_router_state(self, experiment: str) -> RouterState | None:
        t = experiment_router_state
        with self._engine.connect() as conn:
            text = conn.execute(
                select(t.c.state_json).where(t.c.experiment == experiment)
            ).scalar_one_or_none()
        if text is None:
            return None
        try:
            return router_state_from_json(str(text))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(
                f"stored router state of experiment {experiment!r} "
                f"(table experiment_router_state): {exc!r}"
            ) from exc

    def save_router_state(self, experiment: str, state: RouterState, at: int) -> None:
        """Replace the experiment's row (one transaction: the old state or the new one)."""
        t, text = experiment_router_state, router_state_to_json(state)
        with self._engine.begin() as conn:
            done = conn.execute(
                update(t).where(t.c.experiment == experiment).values(state_json=text, updated_at=at)
            )
            if done.rowcount == 0:
                conn.execute(
                    insert(t).values(experiment=experiment, state_json=text, updated_at=at)
                )


def router_state_to_json(state: RouterState) -> str:
    return json.dumps(
        {
            "units": {u: list(scale) for u, scale in state.units.items()},
            "capped": sorted(state.capped),
            "opened": sorted(state.opened),
            "routed": state.routed,
            "counts": [state.sent, state.refused, state.trimmed],
        },
        sort_keys=True,
    )


def router_state_from_json(text: str) -> RouterState:
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(f"{text!r} is not an object")
    sent, refused, trimmed = (_count(n) for n in raw["counts"])
    return RouterState(
        {k: _unit(v) for k, v in _mapping(raw["units"]).items()},
        frozenset(_names(raw["capped"])),
        frozenset(_names(raw["opened"])),
        {str(k): _count(v) for k, v in _mapping(raw["routed"]).items()},
        sent,
        refused,
        trimmed,
    )


def _names(raw: object) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ValueError(f"{raw!r} is not a list of names")
    return list(raw)


def _mapping(raw: object) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise ValueError(f"{raw!r} is not an object")
    return {str(k): v for k, v in raw.items()}


def _unit(raw: object) -> UnitScale:
    """A unit's ``[symbol, ratio, drawn at]``."""
    if not isinstance(raw, list) or len(raw) != 3 or not isinstance(raw[0], str):
        raise ValueError(f"{raw!r} is not [symbol, ratio, drawn at]")
    return raw[0], _number(raw[1]), _count(raw[2])


def _number(raw: object) -> float:
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a number")
    return float(raw)


def _count(raw: object) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not an integer")
    return raw


def _floats(text: str) -> dict[str, float]:
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(f"{text!r} is not an object of numbers")
    return {str(k): float(v) for k, v in raw.items()}
