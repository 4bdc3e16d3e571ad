"""Strategies benched for a significantly negative net expectancy in a regime, and re-admitted,
with the statistics that decided it (strategy/expectancy.py).

Revision ID: risk_0003
Revises: risk_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "risk_0003"
down_revision = "risk_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "strategy_bench_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("strategy", sa.String(40), nullable=False),
        sa.Column("regime", sa.String(16), nullable=False),
        sa.Column("benched", sa.Integer, nullable=False),
        sa.Column("until", sa.BigInteger, nullable=True),
        sa.Column("trades", sa.Integer, nullable=False),
        sa.Column("mean_return", sa.Float, nullable=False),
        sa.Column("t_stat", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("strategy_bench_changes")
