"""Risk area: risk decisions, trading state, kill switch, risk-mode changes.

Revision ID: risk_0001
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "risk_0001"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(100), nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("symbol", sa.String(40), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("requested_quantity", sa.Float, nullable=False),
        sa.Column("final_quantity", sa.Float, nullable=False),
        sa.Column("trading_state", sa.String(16), nullable=False),
        sa.Column("risk_mode", sa.String(16), nullable=False),
        sa.Column("reasons_json", sa.Text, nullable=False),
        sa.Column("intent_json", sa.Text, nullable=False),
    )
    op.create_index("ix_risk_decisions_decision_id", "risk_decisions", ["decision_id"])
    op.create_index("ix_risk_decisions_time", "risk_decisions", ["time"])
    op.create_table(
        "risk_trading_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("previous", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("halt_latched", sa.Integer, nullable=False),
    )
    op.create_table(
        "risk_kill_switch",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("engaged", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changed_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "risk_mode_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("previous", sa.String(16), nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("reasons_json", sa.Text, nullable=False),
        sa.Column("health_json", sa.Text, nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("risk_mode_changes")
    op.drop_table("risk_kill_switch")
    op.drop_table("risk_trading_state")
    op.drop_index("ix_risk_decisions_time", table_name="risk_decisions")
    op.drop_index("ix_risk_decisions_decision_id", table_name="risk_decisions")
    op.drop_table("risk_decisions")
