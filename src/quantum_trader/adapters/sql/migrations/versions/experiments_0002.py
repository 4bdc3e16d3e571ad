"""The route-mode router's state per experiment (``experiments/router.py``: ``RouterState``),
so that a restarted run continues the units it routed.

Revision ID: experiments_0002
Revises: experiments_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "experiments_0002"
down_revision = "experiments_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiment_router_state",
        sa.Column(
            "experiment",
            sa.String(100),
            sa.ForeignKey(
                "experiments.name", name="fk_experiment_router_state_experiment_experiments"
            ),
            nullable=False,
        ),
        sa.Column("state_json", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("experiment", name="pk_experiment_router_state"),
    )


def downgrade() -> None:
    op.drop_table("experiment_router_state")
