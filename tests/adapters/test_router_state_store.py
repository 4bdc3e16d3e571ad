"""The route-mode router's state in the experiments' SQL store (``adapters/sql/experiments.py``)
on SQLite and PostgreSQL: every field comes back as written (floats bit for bit, times past 32
bits), a save replaces the experiment's row and leaves the others, a row that does not parse is
refused naming the table, and the migration creates the table the code declares."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Engine, inspect, select, update

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.adapters.sql.tables_experiments import experiment_router_state
from quantum_trader.experiments.router import RouterState
from quantum_trader.experiments.spec import ArmSpec, ExperimentSpec

BIG = 2**40 + 7
SPEC = ExperimentSpec("q_vs_rules", (ArmSpec("rules", "strategy"), ArmSpec("qlearning")))
STATE = RouterState(
    units={
        f"BTCUSDT@{BIG}": ("BTCUSDT", 0.1 + 0.2, BIG),
        "ETHUSDT@3600000": ("ETHUSDT", 5e-324, 3_600_000),
        "SOLUSDT@0": ("SOLUSDT", 0.0, 0),
    },
    capped=frozenset({"ETHUSDT@3600000", "an ended unit"}),
    opened=frozenset({"BTCUSDT", "ETHUSDT"}),
    routed={"BTCUSDT": BIG + 3_600_000, "ETHUSDT": 7_200_000},
    sent=12,
    refused=3,
    trimmed=2,
)


def test_every_field_comes_back_as_written_and_a_save_replaces_the_row(db_engine: Engine) -> None:
    store = SqlExperimentStore(db_engine)
    store.create(SPEC, 1)
    store.create(replace(SPEC, name="other"), 1)
    assert store.load_router_state(SPEC.name) is None  # nothing routed yet
    store.save_router_state(SPEC.name, STATE, BIG)
    loaded = SqlExperimentStore(db_engine).load_router_state(SPEC.name)
    assert loaded == STATE
    assert loaded is not None and [type(v) for v in loaded.units[f"BTCUSDT@{BIG}"]] == [
        str,
        float,
        int,
    ]
    assert loaded.units["ETHUSDT@3600000"][1] == 5e-324 and loaded.units[f"BTCUSDT@{BIG}"][1] == (
        0.1 + 0.2
    )
    later = RouterState(routed={"BTCUSDT": BIG + 7_200_000}, sent=13, refused=3, trimmed=2)
    store.save_router_state(SPEC.name, later, BIG + 1)
    store.save_router_state("other", RouterState(sent=1), 5)
    assert store.load_router_state(SPEC.name) == later  # replaced, not merged
    assert store.load_router_state("other") == RouterState(sent=1)
    with db_engine.connect() as conn:
        rows = conn.execute(
            select(experiment_router_state.c.experiment, experiment_router_state.c.updated_at)
        ).all()
    assert sorted((str(e), int(t)) for e, t in rows) == [("other", 5), (SPEC.name, BIG + 1)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "Expecting"),
        ("[]", "is not an object"),
        ('{"units": {}, "capped": [], "opened": [], "routed": {}}', "counts"),
        (
            '{"units": {"u": ["BTCUSDT", "x", 1]}, "capped": [], "opened": [], "routed": {}, '
            '"counts": [0, 0, 0]}',
            "is not a number",
        ),
        (
            '{"units": {}, "capped": [1], "opened": [], "routed": {}, "counts": [0, 0, 0]}',
            "is not a list of names",
        ),
        (
            '{"units": {}, "capped": [], "opened": [], "routed": {"BTCUSDT": 1.5}, '
            '"counts": [0, 0, 0]}',
            "is not an integer",
        ),
        ('{"units": {}, "capped": [], "opened": [], "routed": {}, "counts": [0, 0]}', "unpack"),
    ],
)
def test_a_stored_state_that_does_not_parse_is_refused_naming_the_table(
    db_engine: Engine, text: str, message: str
) -> None:
    store = SqlExperimentStore(db_engine)
    store.create(SPEC, 1)
    store.save_router_state(SPEC.name, STATE, 2)
    with db_engine.begin() as conn:
        conn.execute(update(experiment_router_state).values(state_json=text))
    with pytest.raises(ValueError, match="table experiment_router_state") as refused:
        store.load_router_state(SPEC.name)
    assert message in str(refused.value)


def test_the_migration_creates_the_table_the_code_declares(db_engine: Engine) -> None:
    found = inspect(db_engine)
    table = experiment_router_state
    columns = {c["name"]: c for c in found.get_columns(table.name)}
    assert list(columns) == [c.name for c in table.columns]
    assert all(columns[c.name]["nullable"] == c.nullable for c in table.columns)
    assert found.get_pk_constraint(table.name)["constrained_columns"] == ["experiment"]
    keys = [
        (f["constrained_columns"], f["referred_table"]) for f in found.get_foreign_keys(table.name)
    ]
    assert keys == [(["experiment"], "experiments")]
