"""Tables of the A/B experiments (``experiments/``): one row per experiment, and its
observations, assignments and audit trail, each keyed so that a second write of the same step or
unit is refused by the database (``experiments/records.py``: nothing counted twice); and, in
route mode, the router's state (``experiments/router.py``: one row per experiment, replaced
when it changes)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from quantum_trader.adapters.sql.metadata import metadata

experiments = Table(
    "experiments",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("spec_json", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("verdict", Text, nullable=False),
)

experiment_observations = Table(
    "experiment_observations",
    metadata,
    Column("experiment", String(100), ForeignKey("experiments.name"), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("values_json", Text, nullable=False),
    Column("drawdowns_json", Text, nullable=False),
    PrimaryKeyConstraint("experiment", "step"),
)

experiment_assignments = Table(
    "experiment_assignments",
    metadata,
    Column("experiment", String(100), ForeignKey("experiments.name"), nullable=False),
    Column("unit", String(200), nullable=False),
    Column("arm", String(100), nullable=False),
    Column("probability", Float, nullable=False),
    Column("probabilities_json", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
    PrimaryKeyConstraint("experiment", "unit"),
)

experiment_audit = Table(
    "experiment_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("experiment", String(100), ForeignKey("experiments.name"), nullable=False, index=True),
    Column("at", BigInteger, nullable=False),
    Column("event", String(40), nullable=False),
    Column("detail", Text, nullable=False),
)

experiment_router_state = Table(
    "experiment_router_state",
    metadata,
    Column("experiment", String(100), ForeignKey("experiments.name"), nullable=False),
    Column("state_json", Text, nullable=False),  # experiments.router.RouterState
    Column("updated_at", BigInteger, nullable=False),  # engine time of the candle that changed it
    PrimaryKeyConstraint("experiment"),
)
