"""The processes serving a database and their heartbeats (``adapters/sql/tables_services.py``).

Revision ID: services_0001
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "services_0001"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_processes",
        sa.Column("process_id", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("period_ms", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("beat_at", sa.BigInteger, nullable=False),
        sa.Column("stopped_at", sa.BigInteger, nullable=True),
        sa.Column("modules_json", sa.Text, nullable=False),
    )
    op.create_index("ix_service_processes_started_at", "service_processes", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_service_processes_started_at", "service_processes")
    op.drop_table("service_processes")
