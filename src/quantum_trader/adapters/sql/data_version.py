"""Whether anything was committed to an SQLite database since last asked, for a few
microseconds: ``PRAGMA data_version`` on a connection of its own.

SQLite changes the value a connection reads whenever another connection (of this process or
another) commits to the file; a connection's own writes do not change it, so this connection
never writes. The API's answer cache (``api/answers.py``) reads it before every cached answer:
unchanged, nothing in the database changed and the stored answer stands. PostgreSQL has no
equivalent that is both exact and cheap, and an in-memory SQLite database is private to each
connection: for those :func:`data_version_reader` answers None and the cache checks each
answer's own stamp instead.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

from sqlalchemy import Engine


class SqliteDataVersion:
    """``PRAGMA data_version`` of the SQLite file at ``path``, read on a private connection
    (thread-safe: one lock; a read takes a few microseconds)."""

    def __init__(self, path: str) -> None:
        # not mode=ro: a read-only connection cannot create the WAL's shared-memory file when
        # no other connection holds the database open
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            value: int = self._conn.execute("PRAGMA data_version").fetchone()[0]
        return value

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def data_version_reader(engine: Engine) -> Callable[[], int] | None:
    """A reader of ``engine``'s change counter: None unless it is a SQLite file."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if str(url.database).startswith("file:"):  # a URI (shared memory, options): not handled
        return None
    return SqliteDataVersion(str(url.database))
