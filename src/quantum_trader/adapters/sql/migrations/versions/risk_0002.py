"""Risk area: the drawdown breaker's memory (breaker peak, all-time peak, releases, the
REDUCING and flat timers), so that a restart measures drawdown from the same peaks.

Revision ID: risk_0002
Revises: risk_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "risk_0002"
down_revision = "risk_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_breaker_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("breaker_peak", sa.Float, nullable=False),
        sa.Column("all_time_peak", sa.Float, nullable=False),
        sa.Column("releases", sa.Integer, nullable=False),
        sa.Column("reducing_by_drawdown", sa.Integer, nullable=False),
        sa.Column("reducing_since", sa.BigInteger, nullable=True),
        sa.Column("flat_since", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("risk_breaker_state")
