"""A write that must not give up at SQLite's first "database is locked".

Each SQLite connection here waits 5 s for the write lock (``busy_timeout``, ``database.py``);
an engine's checkpoint on a loaded machine can hold it longer. For the few writes an operator
makes by hand and must not lose (the kill switch), :func:`write_while_locked` tries again up to
a budget and then says plainly that nothing was written. PostgreSQL waits for row locks itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import OperationalError

from quantum_trader.domain.errors import QuantumTraderError

T = TypeVar("T")

#: how long an operator's write waits for a database another process is writing
LOCKED_WAIT_S = 60.0


class DatabaseLocked(QuantumTraderError):
    """The database stayed locked by another writer past the budget: nothing was written."""


def write_while_locked(
    write: Callable[[], T], what: str, *, on_wait: Callable[[float], None] | None = None
) -> T:
    """``write()``, tried again while SQLite answers "database is locked", for up to
    :data:`LOCKED_WAIT_S`; ``on_wait(budget)`` is called once, at the first wait. Past the
    budget, :class:`DatabaseLocked` saying ``what`` was not done."""
    budget = LOCKED_WAIT_S
    deadline = time.monotonic() + budget
    waited = False
    while True:
        try:
            return write()
        except OperationalError as exc:
            if "locked" not in str(exc.orig or exc):
                raise
            if time.monotonic() >= deadline:
                raise DatabaseLocked(
                    f"{what}: the database stayed locked by another writer for {budget:g} s "
                    "(an engine's checkpoint?); try again, or stop that process"
                ) from None
            if not waited and on_wait is not None:
                on_wait(budget)
            waited = True
