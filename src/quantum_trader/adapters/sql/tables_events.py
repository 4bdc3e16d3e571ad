"""The event outbox: the engine's bus events that the operator's live stream serves.

The engine appends the dashboard's topics here in batches (``event_outbox.py``); the API
process, which may be another process on the same database, tails the table and sends each row
as one Server-Sent Event whose ``id`` is the row's ``id`` (``GET /api/v1/events``). So the id
must only grow, in commit order: the primary key is autoincrement (``sqlite_autoincrement``: a
SQLite rowid alone may reuse the id of a deleted newest row; PostgreSQL's sequence never goes
back), and the writer serialises its transactions (``event_outbox.py`` says how).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

from quantum_trader.adapters.sql.metadata import metadata

event_outbox = Table(
    "event_outbox",
    metadata,
    # BIGINT on PostgreSQL (a busy engine may outlive 2^31 events); SQLite's autoincrement
    # key must be declared INTEGER, which is 64-bit there anyway
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("run_id", String(64), nullable=False),
    Column("type", String(100), nullable=False),  # the bus topic, e.g. execution.order.filled
    Column("time", BigInteger, nullable=False),  # the engine clock at publication, epoch ms
    Column("source", String(64), nullable=False),  # the publishing module
    Column("payload_json", Text, nullable=False),
    sqlite_autoincrement=True,
)
