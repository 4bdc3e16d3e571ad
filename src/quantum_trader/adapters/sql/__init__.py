"""SQL storage (SQLAlchemy 2 + Alembic): SQLite by default, PostgreSQL by URL."""

from quantum_trader.adapters.sql.database import create_db_engine, migrate, open_database

__all__ = ["create_db_engine", "migrate", "open_database"]
