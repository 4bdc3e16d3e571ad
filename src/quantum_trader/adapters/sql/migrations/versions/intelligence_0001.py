"""Intelligence modules: persisted state documents.

Revision ID: intelligence_0001
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "intelligence_0001"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intelligence_state",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("state_json", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("intelligence_state")
