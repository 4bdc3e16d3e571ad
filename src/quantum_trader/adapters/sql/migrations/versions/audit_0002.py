"""Risk-mode changes name who made them (``changed_by``), as trading-state changes and registry
stage changes already do: the engine of a run (``engine:<run id>``), whose controller decided
it. Several runs share one database; without it a mode row could not be traced to its run.
Rows written before this revision keep NULL.

Revision ID: audit_0002
Revises: audit_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "audit_0002"
down_revision = "audit_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("risk_mode_changes", sa.Column("changed_by", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("risk_mode_changes", "changed_by")
