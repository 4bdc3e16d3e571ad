"""Orders and trades keep the decision that made them (``DecisionRef`` as JSON, null for rule
traders' and operators' orders).

Revision ID: execution_0002
Revises: execution_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "execution_0002"
down_revision = "execution_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("exec_orders", sa.Column("decision_json", sa.Text, nullable=True))
    op.add_column("exec_trades", sa.Column("decision_json", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("exec_trades", "decision_json")
    op.drop_column("exec_orders", "decision_json")
