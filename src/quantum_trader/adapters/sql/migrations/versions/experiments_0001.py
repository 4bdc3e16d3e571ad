"""A/B experiments: the experiments, their observations, assignments and audit trail.

Revision ID: experiments_0001
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "experiments_0001"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_FK = "fk_{0}_experiment_experiments"


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("verdict", sa.Text, nullable=False),
    )
    op.create_table(
        "experiment_observations",
        sa.Column(
            "experiment",
            sa.String(100),
            sa.ForeignKey("experiments.name", name=_FK.format("experiment_observations")),
            nullable=False,
        ),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("values_json", sa.Text, nullable=False),
        sa.Column("drawdowns_json", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("experiment", "step", name="pk_experiment_observations"),
    )
    op.create_table(
        "experiment_assignments",
        sa.Column(
            "experiment",
            sa.String(100),
            sa.ForeignKey("experiments.name", name=_FK.format("experiment_assignments")),
            nullable=False,
        ),
        sa.Column("unit", sa.String(200), nullable=False),
        sa.Column("arm", sa.String(100), nullable=False),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("probabilities_json", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("experiment", "unit", name="pk_experiment_assignments"),
    )
    op.create_table(
        "experiment_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "experiment",
            sa.String(100),
            sa.ForeignKey("experiments.name", name=_FK.format("experiment_audit")),
            nullable=False,
        ),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_experiment_audit_experiment", "experiment_audit", ["experiment"])


def downgrade() -> None:
    op.drop_index("ix_experiment_audit_experiment", "experiment_audit")
    op.drop_table("experiment_audit")
    op.drop_table("experiment_assignments")
    op.drop_table("experiment_observations")
    op.drop_table("experiments")
