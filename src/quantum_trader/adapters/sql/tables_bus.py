"""The bus's table: which event ids each consumer group has handled (``adapters/redis_streams``).

Redis is only the transport; the mark that an event's effect happened lives in the database,
the source of truth, beside that effect (``adapters/redis_streams/sql_processed.py``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table

from quantum_trader.adapters.sql.metadata import metadata

bus_processed_events = Table(
    "bus_processed_events",
    metadata,
    Column("group_name", String(128), primary_key=True),
    Column("event_id", String(256), primary_key=True),
    Column("marked_at", BigInteger, nullable=False, index=True),  # wall epoch ms
)
