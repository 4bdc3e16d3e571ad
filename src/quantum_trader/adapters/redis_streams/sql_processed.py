"""Processed event ids in the database, marked in the handler's own transaction.

With :class:`~quantum_trader.adapters.redis_streams.processed.RedisProcessedIds` the mark is a
write after the handler's effect, and a crash between the two repeats the effect. Here a
handler whose effect is a database write inserts the mark in the same transaction
(:meth:`SqlProcessedIds.mark_in`): the effect and the mark commit together or not at all, so a
redelivered event is either already marked (skipped) or had no effect (handled again). Two
workers handling the same event at once (one claimed it from the other) cannot both commit:
the second insert violates the primary key and its transaction, effect included, rolls back.

The table, ``bus_processed_events``, is the storage package's (``adapters/sql/tables_bus.py``,
migration ``bus_0001``): a database opened by ``open_database`` has it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from quantum_trader.adapters.sql.tables_bus import bus_processed_events as processed_events


class SqlProcessedIds:
    """A :class:`ProcessedIds` store in the database.

    ``marked_by_handler=True``: the handlers call :meth:`mark_in` inside their transaction and
    the bus's own mark after them does nothing; ``False``: the bus marks in a transaction of
    its own after the handlers (the same window as the Redis store, on the source of truth).
    ``wall`` gives epoch ms for ``marked_at`` (what :meth:`forget_before` prunes by).
    """

    def __init__(
        self, engine: Engine, *, wall_ms: Callable[[], int], marked_by_handler: bool = True
    ) -> None:
        self._engine = engine
        self._wall_ms = wall_ms
        self._marked_by_handler = marked_by_handler

    def processed(self, group: str, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        t = processed_events
        query = select(t.c.event_id).where(
            t.c.group_name == group, t.c.event_id.in_(list(event_ids))
        )
        with self._engine.connect() as conn:
            return {row.event_id for row in conn.execute(query)}

    def mark_in(self, conn: Connection, group: str, event_id: str) -> None:
        """Mark inside the caller's transaction; raises ``IntegrityError`` when the event is
        already marked (the caller's transaction must then not commit its effect)."""
        conn.execute(
            insert(processed_events).values(
                group_name=group, event_id=event_id, marked_at=self._wall_ms()
            )
        )

    def mark(self, group: str, event_id: str) -> None:
        if self._marked_by_handler:
            return
        try:
            with self._engine.begin() as conn:
                self.mark_in(conn, group, event_id)
        except IntegrityError:  # marked already: the same outcome
            pass

    def forget_before(self, wall_ms: int) -> int:
        """Delete marks older than ``wall_ms`` (bounded table); returns how many."""
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(processed_events).where(processed_events.c.marked_at < wall_ms)
            )
        return int(result.rowcount)
