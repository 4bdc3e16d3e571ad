"""The bus's processed event ids (``adapters/sql/tables_bus.py``), marked in the handler's own
transaction so that a redelivered event never has a second effect.

Revision ID: bus_0001
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "bus_0001"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bus_processed_events",
        sa.Column("group_name", sa.String(128), primary_key=True),
        sa.Column("event_id", sa.String(256), primary_key=True),
        sa.Column("marked_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_bus_processed_events_marked_at", "bus_processed_events", ["marked_at"])


def downgrade() -> None:
    op.drop_index("ix_bus_processed_events_marked_at", "bus_processed_events")
    op.drop_table("bus_processed_events")
