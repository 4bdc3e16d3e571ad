"""Model registry tables: versions, stage-change audit trail, production pointers."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, UniqueConstraint

from quantum_trader.adapters.sql.metadata import metadata

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("scope", String(64), nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("artifact_hash", String(64), nullable=False),
    Column("metadata_json", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("model", "scope", "horizon", "version", name="uq_model_versions_key_version"),
)

model_stage_changes = Table(
    "model_stage_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("scope", String(64), nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("from_stage", String(16), nullable=True),
    Column("to_stage", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("recorded_at", BigInteger, nullable=True),  # wall clock (audit_0001)
)

model_production = Table(
    "model_production",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("scope", String(64), primary_key=True),
    Column("horizon", Integer, primary_key=True),
    Column("version", Integer, nullable=True),
    Column("updated_at", BigInteger, nullable=False),
)
