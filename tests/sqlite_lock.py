"""Another writer holding a SQLite database's write lock for a while (an engine's checkpoint on
a loaded machine), for the tests of what waits for it."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path


def hold_write_lock(db: Path, seconds: float) -> threading.Thread:
    """A thread that holds ``db``'s write lock for ``seconds``; returned once it holds it."""
    held = threading.Event()

    def hold() -> None:
        with closing(sqlite3.connect(db, isolation_level=None)) as conn:
            conn.execute("BEGIN IMMEDIATE")
            held.set()
            time.sleep(seconds)
            conn.execute("COMMIT")

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(10), f"could not take {db}'s write lock"
    return thread
