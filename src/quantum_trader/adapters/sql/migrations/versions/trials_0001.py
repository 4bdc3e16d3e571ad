"""The trial ledger: every evaluation, backtest and candidate validation; append-only.

Triggers refuse UPDATE and DELETE on SQLite and PostgreSQL, and TRUNCATE on PostgreSQL (SQLite
has none: its ``DELETE FROM trials`` without a WHERE fires the delete trigger). The count of
trials is what the deflated Sharpe ratio deflates by; a ledger one could prune would make it
flatter than the truth. A later migration that rebuilds this table in a SQLite batch must
create the triggers again.

Revision ID: trials_0001
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "trials_0001"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_REFUSAL = "trials is append-only: recorded trials are never changed or deleted"

_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER trials_no_{op_name.lower()} BEFORE {op_name} ON trials
    BEGIN SELECT RAISE(ABORT, '{_REFUSAL} ({op_name} refused)'); END"""
    for op_name in ("UPDATE", "DELETE")
]

_POSTGRES_FUNCTION = f"""CREATE FUNCTION trials_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{_REFUSAL} (% refused)', TG_OP;
END
$$"""

_POSTGRES_TRIGGERS = [
    "CREATE TRIGGER trials_no_update_delete BEFORE UPDATE OR DELETE ON trials "
    "FOR EACH ROW EXECUTE FUNCTION trials_append_only()",
    "CREATE TRIGGER trials_no_truncate BEFORE TRUNCATE ON trials "
    "FOR EACH STATEMENT EXECUTE FUNCTION trials_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("code_version", sa.Text, nullable=False),
        sa.Column("symbols_json", sa.Text, nullable=False),
        sa.Column("timeframe", sa.String(8), nullable=False),
        sa.Column("data_start", sa.BigInteger, nullable=False),
        sa.Column("data_end", sa.BigInteger, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.Column("sharpe", sa.Float, nullable=True),
        sa.Column("periods", sa.Integer, nullable=False),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.Column("parent", sa.Text, nullable=True),
    )
    op.create_index("ix_trials_kind", "trials", ["kind"])
    op.create_index("ix_trials_config_hash", "trials", ["config_hash"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        statements = _SQLITE_TRIGGERS
    elif dialect == "postgresql":
        statements = [_POSTGRES_FUNCTION, *_POSTGRES_TRIGGERS]
    else:  # the project supports these two (adapters/sql/database.py)
        raise NotImplementedError(f"trials_0001: no append-only triggers for {dialect}")
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trials_no_truncate ON trials")
        op.execute("DROP TRIGGER trials_no_update_delete ON trials")
        op.execute("DROP FUNCTION trials_append_only()")
    else:
        op.execute("DROP TRIGGER trials_no_delete")
        op.execute("DROP TRIGGER trials_no_update")
    op.drop_index("ix_trials_config_hash", table_name="trials")
    op.drop_index("ix_trials_kind", table_name="trials")
    op.drop_table("trials")
