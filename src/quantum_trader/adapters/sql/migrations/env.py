"""Alembic environment: runs migrations on the connection (under the migration lock) or the
engine handed in by ``database.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from quantum_trader.adapters.sql import all_tables  # noqa: F401  (registers every table)
from quantum_trader.adapters.sql.metadata import metadata

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if "connection" in config.attributes:
    run(config.attributes["connection"])
else:
    with config.attributes["engine"].begin() as connection:
        run(connection)
