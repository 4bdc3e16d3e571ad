"""One migration at a time per database, across processes.

``quantum-trader up`` starts its roles at one moment and each migrates the database it opens;
on a fresh database they would all create the same tables (``table alembic_version already
exists`` on SQLite, a duplicate ``pg_type`` row on PostgreSQL). ``database.migrate`` takes
this lock only when the schema is behind, and looks at the version again once it holds it.

- SQLite: ``fcntl.flock`` on ``<db>.migrate.lock`` beside the file. The stdlib is enough: the
  kernel drops the lock when its holder dies (``kill -9`` leaves no stale lock) and no package
  is needed. The file is kept, never deleted: a process that deleted it could let a later one
  lock a fresh file while a third still holds the old one.
- PostgreSQL: ``pg_try_advisory_xact_lock`` in the migration's own transaction, keyed by the
  schema (tests share one database in many schemas); the commit or rollback releases it.

Both are polled (every ``POLL_S``) up to a timeout, so a holder that hangs gives an error
naming the database instead of a start that waits forever.
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from quantum_trader.domain.errors import QuantumTraderError

#: long enough for the slowest migration on data; a holder past it is taken for hung
MIGRATION_LOCK_TIMEOUT_S = 300.0
POLL_S = 0.05


class MigrationLockTimeout(QuantumTraderError):
    """Another process has been migrating this database for longer than the timeout."""


def shown(engine: Engine) -> str:
    """The database's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


def sqlite_lock_path(engine: Engine) -> Path | None:
    """``<db>.migrate.lock`` for a SQLite file; None for an in-memory database or a server."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + ".migrate.lock")


@contextmanager
def sqlite_file_lock(engine: Engine, timeout_s: float) -> Iterator[None]:
    """Hold the SQLite file's migration lock; nothing for other databases."""
    path = sqlite_lock_path(engine)
    if path is None:
        yield
        return
    with path.open("a") as handle:  # closing it releases the lock, on any exit

        def take() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        _wait_for(take, timeout_s, f"{shown(engine)} (lock file {path})")
        yield


def postgres_advisory_lock(conn: Connection, timeout_s: float) -> None:
    """Take the schema's migration lock for the rest of ``conn``'s transaction."""
    schema = conn.execute(text("SELECT coalesce(current_schema(), '')")).scalar_one()
    digest = hashlib.sha256(f"quantum_trader.migrate:{schema}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    query = text("SELECT pg_try_advisory_xact_lock(:key)")

    def take() -> bool:
        return bool(conn.execute(query, {"key": key}).scalar_one())

    _wait_for(take, timeout_s, f"{shown(conn.engine)} (schema {schema!r})")


def _wait_for(take: Callable[[], bool], timeout_s: float, where: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not take():
        if time.monotonic() >= deadline:
            raise MigrationLockTimeout(
                f"{where}: another process has been migrating this database for over "
                f"{timeout_s:g} s; stop it (or the process that hung) and start again"
            )
        time.sleep(POLL_S)
