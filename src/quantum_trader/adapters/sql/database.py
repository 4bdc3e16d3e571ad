"""Engine creation and schema migration.

SQLite is the embedded default (WAL journal, foreign keys on); PostgreSQL takes the same schema
through the same Alembic migrations when ``QT_DATABASE_URL`` points at it. Processes that open
one database at once migrate it one at a time (``migration_lock``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event

from quantum_trader.adapters.sql.migration_lock import (
    MIGRATION_LOCK_TIMEOUT_S,
    postgres_advisory_lock,
    sqlite_file_lock,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_db_engine(url: str, *, schema: str | None = None) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder when needed.

    ``schema`` (PostgreSQL only) sets the search path, so tests and tenants can share a database.
    """
    url = normalise_url(url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    connect_args: dict[str, Any] = {}
    if schema is not None:
        connect_args["options"] = f"-csearch_path={schema}"
    engine = create_engine(url, future=True, pool_pre_ping=True, connect_args=connect_args)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, *, lock_timeout_s: float = MIGRATION_LOCK_TIMEOUT_S) -> None:
    """Bring the schema to the newest revision of every migration branch.

    A schema already at head (every start but the first) is only read: no lock, no wait. Else
    the migration runs under a lock that other processes share (``migration_lock``), and a
    process that waited for it finds the schema at head and does nothing.
    """
    cfg = alembic_config(engine)
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    with engine.connect() as conn:
        if _current_heads(conn) == heads:
            return
    with sqlite_file_lock(engine, lock_timeout_s), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            postgres_advisory_lock(conn, lock_timeout_s)
        if _current_heads(conn) == heads:
            return  # another process migrated it while this one waited
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def _current_heads(conn: Connection) -> set[str]:
    return set(MigrationContext.configure(conn).get_current_heads())


def open_database(url: str, *, schema: str | None = None) -> Engine:
    """Create an engine and migrate its schema: what every process does at startup."""
    engine = create_db_engine(url, schema=schema)
    migrate(engine)
    return engine
