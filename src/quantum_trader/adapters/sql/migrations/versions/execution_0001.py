"""Execution and portfolio: orders, fills, trades, ledger entries, equity, replay checkpoints.

Revision ID: execution_0001
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "execution_0001"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exec_orders",
        sa.Column("client_order_id", sa.String(128), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("order_type", sa.String(16), nullable=False),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.Column("price", sa.Float, nullable=True),
        sa.Column("stop_price", sa.Float, nullable=True),
        sa.Column("reduce_only", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filled_quantity", sa.Float, nullable=False),
        sa.Column("average_price", sa.Float, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_exec_orders_run_id", "exec_orders", ["run_id"])
    op.create_table(
        "exec_fills",
        sa.Column("fill_id", sa.String(160), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("client_order_id", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.Column("price", sa.Float, nullable=False),
        sa.Column("fee", sa.Float, nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("is_maker", sa.Boolean, nullable=False),
    )
    op.create_index("ix_exec_fills_run_id", "exec_fills", ["run_id"])
    op.create_table(
        "exec_trades",
        sa.Column("trade_id", sa.String(128), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.Column("entry_price", sa.Float, nullable=False),
        sa.Column("exit_price", sa.Float, nullable=False),
        sa.Column("entry_time", sa.BigInteger, nullable=False),
        sa.Column("exit_time", sa.BigInteger, nullable=False),
        sa.Column("pnl", sa.Float, nullable=False),
        sa.Column("fees", sa.Float, nullable=False),
        sa.Column("funding", sa.Float, nullable=False),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("exit_reason", sa.String(64), nullable=False),
    )
    op.create_index("ix_exec_trades_run_id", "exec_trades", ["run_id"])
    op.create_table(
        "ledger_entries",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("balance_after", sa.Float, nullable=False),
        sa.Column("ref", sa.String(160), nullable=False),
    )
    op.create_table(
        "equity_snapshots",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("time", sa.BigInteger, primary_key=True),
        sa.Column("equity", sa.Float, nullable=False),
    )
    op.create_table(
        "replay_checkpoints",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("cursor", sa.BigInteger, nullable=False),
        sa.Column("last_time", sa.BigInteger, nullable=False),
        sa.Column("finished", sa.Boolean, nullable=False),
        sa.Column("state_json", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("replay_checkpoints")
    op.drop_table("equity_snapshots")
    op.drop_table("ledger_entries")
    op.drop_index("ix_exec_trades_run_id", table_name="exec_trades")
    op.drop_table("exec_trades")
    op.drop_index("ix_exec_fills_run_id", table_name="exec_fills")
    op.drop_table("exec_fills")
    op.drop_index("ix_exec_orders_run_id", table_name="exec_orders")
    op.drop_table("exec_orders")
