"""Execution and portfolio tables: orders, fills, trades, ledger, equity, replay checkpoints.

Every row carries its run id. Client order ids are globally unique (they embed the run id), so
the primary key itself enforces "a known client order id never creates a second order".
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, String, Table, Text

from quantum_trader.adapters.sql.metadata import metadata

exec_orders = Table(
    "exec_orders",
    metadata,
    Column("client_order_id", String(128), primary_key=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("symbol", String(32), nullable=False),
    Column("side", String(8), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("price", Float, nullable=True),
    Column("stop_price", Float, nullable=True),
    Column("reduce_only", Boolean, nullable=False),
    Column("status", String(20), nullable=False),
    Column("filled_quantity", Float, nullable=False),
    Column("average_price", Float, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=True),
    Column("reason", Text, nullable=False),
    Column("decision_json", Text, nullable=True),
)

exec_fills = Table(
    "exec_fills",
    metadata,
    Column("fill_id", String(160), primary_key=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("client_order_id", String(128), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(8), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("price", Float, nullable=False),
    Column("fee", Float, nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("is_maker", Boolean, nullable=False),
)

exec_trades = Table(
    "exec_trades",
    metadata,
    Column("trade_id", String(128), primary_key=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("symbol", String(32), nullable=False),
    Column("side", String(8), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("entry_price", Float, nullable=False),
    Column("exit_price", Float, nullable=False),
    Column("entry_time", BigInteger, nullable=False),
    Column("exit_time", BigInteger, nullable=False),
    Column("pnl", Float, nullable=False),
    Column("fees", Float, nullable=False),
    Column("funding", Float, nullable=False),
    Column("strategy", String(64), nullable=False),
    Column("exit_reason", String(64), nullable=False),
    Column("decision_json", Text, nullable=True),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("time", BigInteger, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("amount", Float, nullable=False),
    Column("balance_after", Float, nullable=False),
    Column("ref", String(160), nullable=False),
)

equity_snapshots = Table(
    "equity_snapshots",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("time", BigInteger, primary_key=True),
    Column("equity", Float, nullable=False),
)

replay_checkpoints = Table(
    "replay_checkpoints",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("cursor", BigInteger, nullable=False),
    Column("last_time", BigInteger, nullable=False),
    Column("finished", Boolean, nullable=False),
    Column("state_json", Text, nullable=False),
)
