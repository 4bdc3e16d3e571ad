"""Foundation tables: policy store, module status, runs and the single-engine lock.

Later areas put their tables in their own ``tables_<area>.py`` on the same metadata, with their
own migration in ``migrations/versions``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, UniqueConstraint

from quantum_trader.adapters.sql.metadata import metadata

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("value_json", Text, nullable=False),
    Column("changed_at", BigInteger, nullable=False),
    Column("changed_by", String(200), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    UniqueConstraint("key", "version", name="uq_policy_versions_key_version"),
)

module_status = Table(
    "module_status",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("enabled", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("last_heartbeat", BigInteger, nullable=True),
    Column("last_activity", BigInteger, nullable=True),
    Column("counters_json", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("mode", String(32), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Column("status", String(32), nullable=False),
    Column("summary_json", Text, nullable=False, default="{}"),
)

#: one row per lock name ("engine"): which run holds it and its last wall-clock heartbeat (epoch
#: ms); a second engine on the same database reads it and is refused (adapters/sql/run_lock.py)
run_lock = Table(
    "run_lock",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("heartbeat_at", BigInteger, nullable=False),
)
