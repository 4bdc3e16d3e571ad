"""Learning agents: the Q-learning selector's table, one header row per scope and its cells.

Revision ID: agents_0001
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "agents_0001"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rl_qtables",
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("state_space", sa.String(200), nullable=False),
        sa.Column("updates", sa.BigInteger, nullable=False),
        sa.Column("trades", sa.BigInteger, nullable=False),
        sa.Column("decisions", sa.BigInteger, nullable=False),
        sa.Column("saved_at", sa.BigInteger, nullable=False),
        sa.Column("cells", sa.Integer, nullable=False),
    )
    op.create_table(
        "rl_qtable_cells",
        sa.Column(
            "scope",
            sa.String(200),
            sa.ForeignKey("rl_qtables.scope", name="fk_rl_qtable_cells_scope_rl_qtables"),
            nullable=False,
        ),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("q", sa.Float, nullable=False),
        sa.Column("visits", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("scope", "state", "action", name="pk_rl_qtable_cells"),
    )


def downgrade() -> None:
    op.drop_table("rl_qtable_cells")
    op.drop_table("rl_qtables")
