"""The runtime the main job builds writes the operator's bus events to the event outbox: the
flush job writes what is buffered, ``finish`` and ``abort`` write the rest, and the
``bus_and_policy`` module counts what was written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.sql.event_outbox import SqlEventOutbox
from quantum_trader.app.runtime import Runtime, build_runtime
from quantum_trader.config.settings import load_settings

START_MS = 1_700_000_000_000


@pytest.fixture
def rt(clean_env: pytest.MonkeyPatch, tmp_path: Path, sqlite_engine: Engine) -> Runtime:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    runtime = build_runtime(
        load_settings(), mode="replay", start_ms=START_MS, run_id="run-1", db=sqlite_engine
    )
    runtime.start()
    return runtime


def publish(rt: Runtime, *numbers: int) -> None:
    for i in numbers:
        rt.bus.publish("market.candle.closed", {"i": i}, source="market_data")  # not kept
        rt.bus.publish("execution.order.submitted", {"i": i}, source="execution")


def stored(rt: Runtime) -> list[tuple[str, str, int]]:
    return [(e.run_id, e.type, e.time) for e in SqlEventOutbox(rt.db).after(0)]


def test_the_flush_job_and_finish_write_the_runs_events(rt: Runtime) -> None:
    publish(rt, 1, 2, 3)
    assert stored(rt) == []  # buffered: no write per event
    assert ("events.outbox_flush", START_MS) in rt.scheduler.run_due(START_MS)
    assert stored(rt) == [("run-1", "execution.order.submitted", START_MS)] * 3
    publish(rt, 4, 5)
    rt.finish("FINISHED", {})
    assert len(stored(rt)) == 5
    counters = rt.modules["bus_and_policy"].status.counters
    assert counters["outbox_events_written"] == 5


def test_a_failed_run_still_writes_its_last_events(rt: Runtime) -> None:
    publish(rt, 1, 2)
    rt.abort("FAILED")
    assert len(stored(rt)) == 2
