"""Alembic environment: runs migrations on the engine handed in by ``database.migrate``."""

from __future__ import annotations

from alembic import context

from quantum_trader.adapters.sql import all_tables  # noqa: F401  (registers every table)
from quantum_trader.adapters.sql.metadata import metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
