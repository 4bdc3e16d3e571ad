"""The experiments' SQL store (``adapters/sql/experiments.py``) on SQLite and PostgreSQL: what is
written comes back as written and as the memory store keeps it, a step or unit is stored once,
a stored row that does not parse is refused naming the table, and the migration creates the
tables the code declares."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Engine, inspect, text, update

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.adapters.sql.tables_experiments import (
    experiment_assignments,
    experiment_audit,
    experiment_observations,
    experiments,
)
from quantum_trader.experiments.allocation import AllocationConfig
from quantum_trader.experiments.records import (
    Assignment,
    AuditEntry,
    ExperimentStatus,
    ExperimentStore,
    MemoryExperimentStore,
    Observation,
)
from quantum_trader.experiments.spec import ArmSpec, ExperimentSpec

BIG = 2**40 + 7  # engine times and steps beyond 32 bits
SPEC = ExperimentSpec(
    "rules_vs_ppo@run-1",
    (ArmSpec("rules", "strategy", "rules:v1"), ArmSpec("ppo", "policy", "ppo@4")),
    guardrails={"max_drawdown": 0.3},
    allocation=AllocationConfig(kind="fixed", weights=(1.0, 2.0)),
    seed=BIG,
)
OBSERVATIONS = [
    Observation(
        BIG + 1, BIG + 60_000, {"rules": 0.1 + 0.2, "ppo": -1 / 3}, {"rules": 0.0, "ppo": 0.01}
    ),
    Observation(BIG + 2, BIG + 120_000, {"rules": 1e-300, "ppo": -1234.5678e10}, {"ppo": 2 / 7}),
    Observation(0, 0, {"rules": 0.0, "ppo": 5e-324}, {}),
]
HALF = {"rules": 1 / 3, "ppo": 2 / 3}
ASSIGNMENTS = [
    Assignment("BTCUSDT@1700000000000", "ppo", 2 / 3, HALF, "ppo@4", BIG + 60_000),
    Assignment("ETHUSDT@1700000000000", "rules", 1 / 3, HALF, "rules:v1", BIG + 61_000),
]


def fill(store: ExperimentStore) -> None:
    store.create(SPEC, BIG)
    for o in OBSERVATIONS:
        assert store.add_observation(SPEC.name, o)
    for a in ASSIGNMENTS:
        assert store.add_assignment(SPEC.name, a)
    store.audit(SPEC.name, AuditEntry(BIG + 5, "arm_stopped", "ppo: drawdown 31% ..."))
    store.set_status(SPEC.name, ExperimentStatus.CONCLUDED, "broken arm: ppo after 3", BIG + 6)


def test_what_is_stored_comes_back_as_written_and_as_in_memory(db_engine: Engine) -> None:
    store = SqlExperimentStore(db_engine)
    assert store.names() == [] and store.load(SPEC.name) is None and store.status("x") is None
    fill(store)
    loaded = SqlExperimentStore(db_engine).load(SPEC.name)
    assert loaded is not None
    assert loaded.spec == SPEC and loaded.status is ExperimentStatus.CONCLUDED
    assert loaded.created_at == BIG and loaded.verdict == "broken arm: ppo after 3"
    # observations in step order, floats bit for bit (5e-324, 0.1 + 0.2 ...), ints as ints
    assert loaded.observations == sorted(OBSERVATIONS, key=lambda o: o.step)
    assert all(isinstance(o.step, int) and isinstance(o.at, int) for o in loaded.observations)
    assert loaded.assignments == ASSIGNMENTS
    assert [(a.at, a.event) for a in loaded.audit] == [
        (BIG, "created"),
        (BIG + 5, "arm_stopped"),
    ]
    assert store.status(SPEC.name) is ExperimentStatus.CONCLUDED

    memory = MemoryExperimentStore()
    fill(memory)
    kept = memory.load(SPEC.name)
    assert kept is not None
    # the same records (the memory store keeps insertion order; the created entry's detail is
    # the spec in SQL, empty in memory)
    assert replace(kept, observations=sorted(kept.observations, key=lambda o: o.step),
                   audit=kept.audit[1:]) == replace(loaded, audit=loaded.audit[1:])  # fmt: skip


def test_experiments_are_listed_by_name_and_kept_apart(db_engine: Engine) -> None:
    store = SqlExperimentStore(db_engine)
    for name in ("zeta", "alpha", "mid"):
        store.create(replace(SPEC, name=name), 1)
    assert store.names() == ["alpha", "mid", "zeta"]
    assert store.add_observation("alpha", OBSERVATIONS[0])
    assert store.add_observation("zeta", OBSERVATIONS[0])  # the same step, another experiment
    assert store.add_assignment("mid", ASSIGNMENTS[0]) and store.add_assignment(
        "zeta", ASSIGNMENTS[0]
    )
    store.set_status("mid", ExperimentStatus.STOPPED, "stopped: enough", 2)
    loaded = {n: store.load(n) for n in store.names()}
    assert [len(s.observations) for s in loaded.values() if s] == [1, 0, 1]
    assert [len(s.assignments) for s in loaded.values() if s] == [0, 1, 1]
    assert [store.status(n) for n in store.names()] == [
        ExperimentStatus.RUNNING,
        ExperimentStatus.STOPPED,
        ExperimentStatus.RUNNING,
    ]


def test_a_name_is_created_once(db_engine: Engine) -> None:
    store = SqlExperimentStore(db_engine)
    store.create(SPEC, 1)
    with pytest.raises(ValueError, match="experiment 'rules_vs_ppo@run-1' exists"):
        store.create(replace(SPEC, alpha=0.01), 2)
    loaded = store.load(SPEC.name)
    assert loaded is not None and loaded.spec == SPEC and loaded.created_at == 1
    assert [a.event for a in loaded.audit] == ["created"]  # the refused create left nothing


def test_a_step_or_a_unit_is_stored_once_and_never_overwritten(db_engine: Engine) -> None:
    store = SqlExperimentStore(db_engine)
    store.create(SPEC, 1)
    first = OBSERVATIONS[0]
    assert store.add_observation(SPEC.name, first)
    other = replace(first, at=first.at + 1, values={"rules": 9.0, "ppo": 9.0})
    assert not store.add_observation(SPEC.name, other)
    assert store.add_assignment(SPEC.name, ASSIGNMENTS[0])
    assert not store.add_assignment(SPEC.name, replace(ASSIGNMENTS[0], arm="rules"))
    loaded = store.load(SPEC.name)
    assert loaded is not None
    assert loaded.observations == [first] and loaded.assignments == [ASSIGNMENTS[0]]
    # the refusals left the store usable: a new step goes in
    assert store.add_observation(SPEC.name, replace(first, step=first.step + 10))


@pytest.mark.parametrize(
    ("table", "column", "value", "message"),
    [
        ("experiments", "spec_json", '{"name": "x"', "stored experiment 'e' .table experiments."),
        ("experiments", "spec_json", '{"name": "x"}', "stored experiment 'e' .table experiments."),
        ("experiments", "status", "paused", "'paused' is not a valid ExperimentStatus"),
        ("experiment_observations", "values_json", "[1, 2]", "not an object of numbers"),
        ("experiment_observations", "drawdowns_json", '{"a": "x"}', "could not convert"),
        ("experiment_assignments", "probabilities_json", "{", "stored experiment 'e'"),
    ],
)
def test_a_stored_row_that_does_not_parse_is_refused_naming_the_table(
    db_engine: Engine, table: str, column: str, value: str, message: str
) -> None:
    store = SqlExperimentStore(db_engine)
    store.create(replace(SPEC, name="e"), 1)
    store.add_observation("e", OBSERVATIONS[0])
    store.add_assignment("e", ASSIGNMENTS[0])
    target = {
        "experiments": experiments,
        "experiment_observations": experiment_observations,
        "experiment_assignments": experiment_assignments,
    }[table]
    with db_engine.begin() as conn:
        conn.execute(update(target).values({column: value}))
    with pytest.raises(ValueError, match=message):
        store.load("e")


def test_the_migration_creates_the_tables_the_code_declares(db_engine: Engine) -> None:
    found = inspect(db_engine)
    for table in (experiments, experiment_observations, experiment_assignments, experiment_audit):
        columns = {c["name"]: c for c in found.get_columns(table.name)}
        assert list(columns) == [c.name for c in table.columns], table.name
        for c in table.columns:
            assert columns[c.name]["nullable"] == c.nullable, (table.name, c.name)
        primary = found.get_pk_constraint(table.name)["constrained_columns"]
        assert primary == [c.name for c in table.primary_key.columns], table.name
        keys = {
            (tuple(f["constrained_columns"]), f["referred_table"])
            for f in found.get_foreign_keys(table.name)
        }
        assert keys == ({(("experiment",), "experiments")} if table is not experiments else set())
    indexes = {i["name"] for i in found.get_indexes("experiment_audit")}
    assert "ix_experiment_audit_experiment" in indexes


def test_the_database_itself_refuses_a_second_row_for_a_step(db_engine: Engine) -> None:
    store = SqlExperimentStore(db_engine)
    store.create(SPEC, 1)
    store.add_observation(SPEC.name, OBSERVATIONS[0])
    row = "INSERT INTO experiment_observations VALUES (:e, :s, 0, '{}', '{}')"
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), db_engine.begin() as conn:
        conn.execute(text(row), {"e": SPEC.name, "s": OBSERVATIONS[0].step})
