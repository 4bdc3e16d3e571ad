"""Audit rows record the wall-clock time they were stored (``recorded_at``, ms) beside their
engine time (``at``): registry stage changes, trading-state changes and risk-mode changes. In a
replay ``at`` is the replayed candle's time; ``recorded_at`` says when it really happened. Rows
written before this revision keep NULL.

Revision ID: audit_0001
Revises: registry_0001, risk_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "audit_0001"
down_revision = ("registry_0001", "risk_0003")
branch_labels = None
depends_on = None

TABLES = ("model_stage_changes", "risk_trading_state", "risk_mode_changes")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("recorded_at", sa.BigInteger, nullable=True))


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_column(table, "recorded_at")
