"""Tables of the intelligence modules: one JSON state document per key."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table, Text

from quantum_trader.adapters.sql.metadata import metadata

intelligence_state = Table(
    "intelligence_state",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("state_json", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
