"""The processes that serve this database, each with its wall-clock heartbeat
(``status/services.py``): which role runs where, since when, which modules it reports, and
whether it still beats."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

from quantum_trader.adapters.sql.metadata import metadata

service_processes = Table(
    "service_processes",
    metadata,
    Column("process_id", String(200), primary_key=True),  # role@host:pid:started
    Column("role", String(40), nullable=False),
    Column("host", String(128), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("period_ms", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=False, index=True),  # wall epoch ms
    Column("beat_at", BigInteger, nullable=False),  # wall epoch ms
    Column("stopped_at", BigInteger, nullable=True),  # wall epoch ms: a clean stop
    Column("modules_json", Text, nullable=False),  # the module names it reports
)
