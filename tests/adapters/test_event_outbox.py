"""The event outbox on SQLite and PostgreSQL: the writer is a bus recorder that does no I/O per
event and writes in batches; ids grow without gaps within a run; the table keeps the newest
rows; a tailing reader misses nothing while writers race; the migration makes the table the
code declares."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event, func, inspect, select

from quantum_trader.adapters.sql.event_outbox import (
    OUTBOX_TOPICS,
    EventOutboxWriter,
    SqlEventOutbox,
    payload_json,
)
from quantum_trader.adapters.sql.tables_events import event_outbox
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.clock.clock import SimulatedClock

START_MS = 1_800_000_000_000


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement ``engine`` sends while the block runs."""
    sent: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        sent.append(sql)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def stored_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(event_outbox)).scalar_one())


def publish_fills(bus: InProcessBus, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        bus.publish("execution.order.filled", {"fill_id": f"f{i}", "price": 100.0 + i}, source="x")


def test_nothing_is_written_before_a_batch_fills(db_engine: Engine) -> None:
    bus = InProcessBus(SimulatedClock(START_MS), run_id="r1")
    writer = EventOutboxWriter(db_engine, "r1", batch_size=16)
    bus.add_recorder(writer.record)
    with statements(db_engine) as sent:
        publish_fills(bus, 15)
    assert sent == [] and writer.pending == 15 and stored_rows(db_engine) == 0
    with statements(db_engine) as sent:
        publish_fills(bus, 1, start=15)  # the 16th fills the batch: one transaction
    inserts = [s for s in sent if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1 and writer.pending == 0 and stored_rows(db_engine) == 16
    publish_fills(bus, 5, start=16)
    assert stored_rows(db_engine) == 16  # a part batch waits for the flush
    assert writer.flush() == 5 and writer.written == 21
    assert stored_rows(db_engine) == 21
    with statements(db_engine) as sent:
        assert writer.flush() == 0  # nothing buffered: no I/O at all
    assert sent == []


def test_only_the_outbox_topics_are_kept(sqlite_engine: Engine) -> None:
    bus = InProcessBus(SimulatedClock(START_MS), run_id="r1")
    writer = EventOutboxWriter(sqlite_engine, "r1")
    bus.add_recorder(writer.record)
    kept = [
        "execution.order.submitted",
        "execution.trade.closed",
        "risk.decision",
        "risk.state.changed",
        "policy.updated",
        "model.stage_changed",
        "model.drift.detected",
        "model.covariate_shift",
        "regime.changed",
        "health.alert",
    ]
    for topic in ["market.candle.closed", *kept, "riskless.thing", "modelling"]:
        bus.publish(topic, {"topic": topic}, source="test")
    writer.flush()
    assert [e.type for e in SqlEventOutbox(sqlite_engine).after(0)] == kept
    assert all(topic.startswith(OUTBOX_TOPICS) for topic in kept)


def test_ids_grow_without_gaps_within_a_run_and_keep_the_event(db_engine: Engine) -> None:
    clock = SimulatedClock(START_MS)
    bus = InProcessBus(clock, run_id="r1")
    writer = EventOutboxWriter(db_engine, "r1", batch_size=64)
    bus.add_recorder(writer.record)
    for i in range(300):
        clock.advance_to(START_MS + i * 1_000)
        bus.publish_record("execution.order.filled", ("fill_id", "n"), (f"f{i}", i), source="exe")
    writer.flush()
    events = SqlEventOutbox(db_engine).after(0, limit=1000)
    ids = [e.id for e in events]
    assert ids == list(range(ids[0], ids[0] + 300))  # consecutive, in publication order
    assert [json.loads(e.payload_json)["n"] for e in events] == list(range(300))
    first = events[0]
    assert (first.run_id, first.type, first.time, first.source) == (
        "r1", "execution.order.filled", START_MS, "exe"
    )  # fmt: skip
    assert json.loads(first.to_json()) == {
        "id": first.id,
        "run_id": "r1",
        "type": "execution.order.filled",
        "time": START_MS,
        "source": "exe",
        "payload": {"fill_id": "f0", "n": 0},
    }
    assert SqlEventOutbox(db_engine).newest_id() == ids[-1]
    assert [e.id for e in SqlEventOutbox(db_engine).after(ids[99], limit=3)] == ids[100:103]


def test_a_later_run_continues_the_ids(sqlite_engine: Engine) -> None:
    for run in ("r1", "r2"):
        writer = EventOutboxWriter(sqlite_engine, run)
        for i in range(3):
            writer.record("risk.decision", START_MS, "risk", ("i",), (i,))
        writer.flush()
    events = SqlEventOutbox(sqlite_engine).after(0)
    assert [(e.id, e.run_id) for e in events] == [
        (1, "r1"), (2, "r1"), (3, "r1"), (4, "r2"), (5, "r2"), (6, "r2")
    ]  # fmt: skip


def test_retention_keeps_the_newest_rows(db_engine: Engine) -> None:
    writer = EventOutboxWriter(db_engine, "r1", batch_size=10, keep=25)
    for i in range(73):
        writer.record("risk.decision", START_MS + i, "risk", ("i",), (i,))
    writer.flush()
    events = SqlEventOutbox(db_engine).after(0, limit=1000)
    assert len(events) == 25
    assert [json.loads(e.payload_json)["i"] for e in events] == list(range(48, 73))


def test_ids_are_never_reused_after_pruning(sqlite_engine: Engine) -> None:
    writer = EventOutboxWriter(sqlite_engine, "r1", batch_size=1, keep=1)
    for i in range(3):
        writer.record("risk.decision", START_MS, "risk", ("i",), (i,))
    with sqlite_engine.begin() as conn:  # even with the newest row gone, ids go on
        conn.execute(event_outbox.delete())
    writer.record("risk.decision", START_MS, "risk", ("i",), (3,))
    assert [e.id for e in SqlEventOutbox(sqlite_engine).after(0)] == [4]


def test_payloads_are_json_a_browser_reads() -> None:
    assert payload_json({"score": float("nan"), "v": [float("inf"), 1.5]}, where="w") == (
        '{"score":null,"v":[null,1.5]}'
    )
    with pytest.raises(TypeError, match=r"event risk\.decision from risk: the payload is not JSON"):
        payload_json({"when": object()}, where="event risk.decision from risk")


def test_a_failed_write_keeps_its_events_for_the_next_flush(sqlite_engine: Engine) -> None:
    writer = EventOutboxWriter(sqlite_engine, "r1")
    writer.record("risk.decision", START_MS, "risk", ("i",), (object(),))
    with pytest.raises(TypeError, match=r"risk\.decision from risk"):
        writer.flush()
    assert writer.pending == 1 and stored_rows(sqlite_engine) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"run_id": ""}, "run_id=''"),
        ({"run_id": "r" * 65}, "needs 1 to 64"),
        ({"topics": ()}, "topics=()"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"keep": 10, "batch_size": 20}, "keep=10: must be >= batch_size"),
    ],
)
def test_the_writer_refuses_bad_settings(
    sqlite_engine: Engine, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"run_id": "r1", **kwargs}
    run_id = args.pop("run_id")
    with pytest.raises(ValueError, match=message):
        EventOutboxWriter(sqlite_engine, run_id, **args)  # type: ignore[arg-type]


def test_the_reader_refuses_bad_arguments(sqlite_engine: Engine) -> None:
    with pytest.raises(ValueError, match="last_id=-1"):
        SqlEventOutbox(sqlite_engine).after(-1)
    with pytest.raises(ValueError, match="limit=0"):
        SqlEventOutbox(sqlite_engine).after(0, limit=0)


def test_a_tailing_reader_misses_nothing_while_writers_race(db_engine: Engine) -> None:
    """Two writers commit small batches at once while a reader tails by id: had an id been
    committed after a higher one, the reader would have stepped over it."""
    per_writer, reader = 400, SqlEventOutbox(db_engine)
    done = threading.Event()
    seen: list[int] = []

    def write(run: str) -> None:
        writer = EventOutboxWriter(db_engine, run, batch_size=4)
        for i in range(per_writer):
            writer.record("risk.decision", START_MS, "risk", ("i",), (i,))
        writer.flush()

    def tail() -> None:
        last = 0
        while True:
            finished = done.is_set()  # read before the last query: it sees every commit
            page = reader.after(last, limit=50)
            for e in page:
                seen.append(e.id)
                last = e.id
            if not page:
                time.sleep(0.001)  # leave the writers the interpreter
            if finished and last == reader.newest_id():
                return

    writers = [threading.Thread(target=write, args=(run,)) for run in ("a", "b")]
    tailer = threading.Thread(target=tail)
    tailer.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(60)
    done.set()
    tailer.join(60)
    stored = [e.id for e in reader.after(0, limit=10 * per_writer)]
    assert len(stored) == 2 * per_writer
    assert seen == stored


def test_the_migration_makes_the_declared_table(db_engine: Engine) -> None:
    columns = {c["name"]: c for c in inspect(db_engine).get_columns("event_outbox")}
    assert list(columns) == [c.name for c in event_outbox.columns]
    assert all(not c["nullable"] for c in columns.values())
    if db_engine.dialect.name == "sqlite":
        with db_engine.connect() as conn:
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'event_outbox'"
            ).scalar_one()
        assert "AUTOINCREMENT" in sql  # a plain rowid could hand out a deleted id again
    else:  # a 64-bit id from a sequence
        assert str(columns["id"]["type"]) == "BIGINT"
        assert "nextval" in str(columns["id"]["default"])
