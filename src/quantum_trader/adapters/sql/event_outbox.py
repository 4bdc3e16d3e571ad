"""The event outbox (``tables_events.py``): the engine writes the bus events an operator watches,
the API's live stream reads them back (``GET /api/v1/events``, docs/api.md).

The API may run in another process than the engine; they share only the database. So the
engine persists the events, and the stream tails the table by id.

Writing (:class:`EventOutboxWriter`) is a bus recorder on the decision path, so it costs an
append per event and nothing else: events of the :data:`OUTBOX_TOPICS` are buffered and written
in one transaction per :data:`BATCH_SIZE` events, or sooner when the composition root calls
:meth:`EventOutboxWriter.flush` (about once a second, and at the end of the run). The same
transaction prunes the table to the newest :data:`KEEP_ROWS` ids.

Ids only grow, in commit order, which is what lets a client resume after the last id it saw:
each batch takes the database's write lock before its first id is drawn and keeps it until it
commits (SQLite has one writer at a time; on PostgreSQL the writer locks the table EXCLUSIVE,
which readers pass through). A reader that has seen id ``n`` has therefore seen, or will never
see, every id below ``n``.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, Engine, delete, func, insert, select, text

from quantum_trader.adapters.sql.tables_events import event_outbox

#: The topics the live stream carries, as prefixes of bus topic names (``bus/topics.py``):
#: orders submitted and updated, fills and closed trades (``execution.``); risk decisions and
#: trading-state changes, kill switch and drawdown breaker included (``risk.``); policy
#: versions, among them each risk-mode change (``policy.updated``); model stage changes,
#: drift and covariate shift (``model.``); regime changes and health alerts. Not candles:
#: one per symbol and bar, and the API reads them from the store.
OUTBOX_TOPICS: Final = (
    "execution.",
    "risk.",
    "policy.updated",
    "model.",
    "regime.changed",
    "health.alert",
)
#: events per write transaction when no flush comes first
BATCH_SIZE: Final = 256
#: the outbox keeps the newest this many ids; older rows are deleted at each write
KEEP_ROWS: Final = 200_000
#: the longest run id the table holds (``tables_events.py``)
MAX_RUN_ID = 64

#: a buffered event: type, engine time, source, payload keys, payload values (the recorder's
#: arguments, kept as they came: the payload is built when the batch is written)
BufferedEvent = tuple[str, int, str, tuple[str, ...], tuple[Any, ...]]


class EventOutboxWriter:
    """Buffers the bus events of ``topics`` (prefixes) for run ``run_id`` and writes them in
    batches of ``batch_size``; keeps the newest ``keep`` ids. ``on_write(n)`` hears of every
    batch written (the runtime counts them as evidence).

    Used from the engine's thread only, like the bus itself. A failed write raises and keeps
    its events buffered, so the next flush tries them again.
    """

    def __init__(
        self,
        engine: Engine,
        run_id: str,
        *,
        topics: tuple[str, ...] = OUTBOX_TOPICS,
        batch_size: int = BATCH_SIZE,
        keep: int = KEEP_ROWS,
        on_write: Callable[[int], object] | None = None,
    ) -> None:
        if not run_id or len(run_id) > MAX_RUN_ID:
            raise ValueError(f"EventOutboxWriter run_id={run_id!r}: needs 1 to 64 characters")
        if not topics or not all(isinstance(t, str) and t for t in topics):
            raise ValueError(f"EventOutboxWriter topics={topics!r}: needs non-empty prefixes")
        if batch_size < 1:
            raise ValueError(f"EventOutboxWriter batch_size={batch_size}: must be >= 1")
        if keep < batch_size:
            raise ValueError(
                f"EventOutboxWriter keep={keep}: must be >= batch_size ({batch_size}), "
                "or a batch would delete its own rows"
            )
        self._engine = engine
        self._run_id = run_id
        self._topics = tuple(topics)
        self._batch_size = batch_size
        self._keep = keep
        self._on_write = on_write
        self._buffer: list[BufferedEvent] = []
        #: events written so far by this writer
        self.written = 0

    @property
    def pending(self) -> int:
        """Events buffered, not written yet."""
        return len(self._buffer)

    def record(
        self, type: str, time: int, source: str, keys: tuple[str, ...], values: tuple[Any, ...]
    ) -> None:
        """The bus recorder (``RecordingBus.add_recorder``): keep the event if its topic is one
        of the outbox's; write the batch once it is full."""
        if type.startswith(self._topics):
            buffer = self._buffer
            buffer.append((type, time, source, keys, values))
            if len(buffer) >= self._batch_size:
                self.flush()

    def flush(self) -> int:
        """Write every buffered event in one transaction and prune the table to the newest
        ``keep`` ids; returns how many were written (0 with nothing buffered: no I/O)."""
        if not self._buffer:
            return 0
        rows = [self._row(event) for event in self._buffer]
        with self._engine.begin() as conn:
            _lock_for_writing(conn)
            conn.execute(insert(event_outbox), rows)
            newest = conn.execute(select(func.max(event_outbox.c.id))).scalar_one()
            conn.execute(delete(event_outbox).where(event_outbox.c.id <= newest - self._keep))
        self._buffer = []
        self.written += len(rows)
        if self._on_write is not None:
            self._on_write(len(rows))
        return len(rows)

    def _row(self, event: BufferedEvent) -> dict[str, Any]:
        type, time, source, keys, values = event
        payload = dict(zip(keys, values, strict=True))
        return {
            "run_id": self._run_id,
            "type": type,
            "time": time,
            "source": source,
            "payload_json": payload_json(payload, where=f"event {type} from {source}"),
        }


def _lock_for_writing(conn: Connection) -> None:
    """Hold the outbox's write lock until this transaction commits, so that ids are drawn and
    committed in the same order. SQLite's first write takes the database's only write lock by
    itself; PostgreSQL's sequence hands out ids at insert time, so two writers could commit
    out of order without the EXCLUSIVE table lock (which blocks writers, never readers)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"LOCK TABLE {event_outbox.name} IN EXCLUSIVE MODE"))


def payload_json(payload: dict[str, Any], *, where: str) -> str:
    """``payload`` as compact JSON that a browser's ``JSON.parse`` reads: NaN and infinities
    (a market-wide regime change has no scores) become null; enums their values. A value JSON
    cannot hold raises a TypeError naming ``where``.

    >>> payload_json({"side": "BUY", "score": float("nan")}, where="test")
    '{"side":"BUY","score":null}'
    """
    try:
        try:
            return _dumps(payload)
        except ValueError:  # a NaN or an infinity somewhere: the rare path
            return _dumps(_finite(payload))
    except TypeError as exc:
        raise TypeError(f"{where}: the payload is not JSON-compatible ({exc})") from exc


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False, default=_enum_value)


def _enum_value(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None, at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One stored event; ``id`` is the live stream's event id."""

    id: int
    run_id: str
    type: str
    time: int
    source: str
    payload_json: str

    def to_json(self) -> str:
        """The event as the stream's ``data`` line: id, run, type, engine time (epoch ms),
        source and payload."""
        return json.dumps(
            {
                "id": self.id,
                "run_id": self.run_id,
                "type": self.type,
                "time": self.time,
                "source": self.source,
                "payload": json.loads(self.payload_json),
            },
            separators=(",", ":"),
        )


class SqlEventOutbox:
    """The outbox's reading side (the API's live stream)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def after(self, last_id: int, limit: int = 500) -> list[OutboxEvent]:
        """The events with an id above ``last_id``, oldest first, at most ``limit``."""
        if last_id < 0:
            raise ValueError(f"last_id={last_id}: must be >= 0")
        if limit < 1:
            raise ValueError(f"limit={limit}: must be >= 1")
        t = event_outbox
        stmt = select(t).where(t.c.id > last_id).order_by(t.c.id).limit(limit)
        with self._engine.connect() as conn:
            return [
                OutboxEvent(int(r.id), r.run_id, r.type, int(r.time), r.source, r.payload_json)
                for r in conn.execute(stmt)
            ]

    def newest_id(self) -> int:
        """The newest event's id; 0 for an empty outbox."""
        with self._engine.connect() as conn:
            newest = conn.execute(select(func.max(event_outbox.c.id))).scalar_one()
        return 0 if newest is None else int(newest)
