"""The trial ledger's table (``evaluation/ledger.py``): one row per evaluation, backtest or
candidate validation, never updated or deleted.

Append-only is enforced by the database, not only by the code: the migration
(``migrations/versions/trials_0001.py``) puts triggers on the table that abort any UPDATE or
DELETE (and TRUNCATE on PostgreSQL), because the deflated Sharpe ratio's count of trials is only
honest if nothing can be taken out of it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table, Text

from quantum_trader.adapters.sql.metadata import metadata

trials = Table(
    "trials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("config_hash", String(64), nullable=False, index=True),
    Column("code_version", Text, nullable=False),
    Column("symbols_json", Text, nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("data_start", BigInteger, nullable=False),
    Column("data_end", BigInteger, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("metrics_json", Text, nullable=False),
    Column("sharpe", Float, nullable=True),  # per candle, not annualised
    Column("periods", Integer, nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    Column("parent", Text, nullable=True),
)
