"""Foundation: policy store, module status, runs.

Revision ID: 0001_foundation
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("value_json", sa.Text, nullable=False),
        sa.Column("changed_at", sa.BigInteger, nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.UniqueConstraint("key", "version", name="uq_policy_versions_key_version"),
    )
    op.create_index("ix_policy_versions_key", "policy_versions", ["key"])
    op.create_table(
        "module_status",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("last_heartbeat", sa.BigInteger, nullable=True),
        sa.Column("last_activity", sa.BigInteger, nullable=True),
        sa.Column("counters_json", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("summary_json", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("runs")
    op.drop_table("module_status")
    op.drop_index("ix_policy_versions_key", table_name="policy_versions")
    op.drop_table("policy_versions")
