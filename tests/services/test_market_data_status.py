"""The market-data role's module, ``candle_stream``, in ``quantum-trader status``: what the
role's process really did (candles in the replay, already on the stream, published, Redis
restarts, times published again while following), its state and how it ended, and the
market-data process named as its reporter, UP while it runs and STOPPED (or, killed, left UP
to read DOWN) after; ``service market-data`` runs as a real child process on the shared test
Redis. The engine's module snapshot and the role's leave each other's rows alone."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest
import redis
from sqlalchemy import Engine
from typer.testing import CliRunner

from quantum_trader.adapters.candle_stream import (
    CandleStreamPublisher,
    end_read_key,
    stream_name,
    whole_key,
)
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.service_health import SqlServiceHealth
from quantum_trader.app.cli.main import app
from quantum_trader.app.storage import open_settings_database
from quantum_trader.clock.clock import WallClock
from quantum_trader.config.settings import load_storage_settings
from quantum_trader.engine.feeds import ReplayFeed
from quantum_trader.status import ModuleState, ModuleStatus
from quantum_trader.status.services import ProcessState, ServiceProcess
from tests.services.conftest import CANDLES
from tests.services.test_candle_stream import _market_data


def _status() -> dict[str, dict[str, Any]]:
    """``quantum-trader status --json`` on the test's home: module name → its entry."""
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    return {m["name"]: m for m in json.loads(result.output)}


def _processes() -> list[ServiceProcess]:
    db = open_settings_database(load_storage_settings())
    return [p for p in SqlServiceHealth(db).load_all() if p.role == "market-data"]


def _process_of(pid: int) -> ServiceProcess:
    (process,) = [p for p in _processes() if p.pid == pid]
    return process


def _wait_for(what: str, check: Any, timeout_s: float = 60) -> dict[str, Any]:
    """The ``candle_stream`` entry of ``status --json`` once ``check(entry)`` holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        entry = _status().get("candle_stream")
        if entry is not None and check(entry):
            return entry
        assert time.monotonic() < deadline, f"never {what}: {entry}"
        time.sleep(0.1)


@pytest.mark.data
def test_market_data_reports_its_stream_module_with_its_process(
    env: dict[str, str], redis_url: str, prefix: str
) -> None:
    child = _market_data(env, redis_url, prefix)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0, out
    stream = stream_name(prefix)
    first = _process_of(child.pid)
    module = _status()["candle_stream"]
    assert module["counters"] == {
        "candles": CANDLES, "already_on_stream": 0, "on_stream": CANDLES, "published": CANDLES,
        "redis_restarts": 0,
    }  # fmt: skip
    assert module["state"] == "ACTIVE" and module["enabled"] is True
    assert module["reason"] == (
        f"ended: {stream} holds the replay's {CANDLES} candles and its end ({CANDLES} "
        "published by this process, 0 already there)"
    )
    assert module["process"] == first.process_id and module["process_state"] == "STOPPED"
    assert first.modules == ("candle_stream",)
    assert module["last_activity"] is not None and first.started_at <= module["last_activity"]

    # the stream is whole now: a second process publishes nothing, and is the one named
    again = _market_data(env, redis_url, prefix)
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0, out
    module = _status()["candle_stream"]
    assert (module["counters"]["already_on_stream"], module["counters"]["published"]) == (
        CANDLES,
        0,
    )
    assert module["process"] == _process_of(again.pid).process_id != first.process_id
    assert module["process_state"] == "STOPPED"
    table = CliRunner().invoke(app, ["status"], env={"COLUMNS": "400"})
    assert table.exit_code == 0, table.output
    assert "candle_stream" in table.output and "1: candle_stream" in table.output


@pytest.mark.data
def test_a_paced_publish_shows_its_progress_while_it_publishes(
    env: dict[str, str], redis_url: str, prefix: str
) -> None:
    # 480 candles in batches of 40, 0.25 s apart: about 3 s of publishing
    child = _market_data(env, redis_url, prefix, "--batch", "40", "--pause-s", "0.25")
    try:
        seen = _wait_for(
            "part-way", lambda m: 0 < m["counters"].get("on_stream", 0) < CANDLES, timeout_s=120
        )
        assert seen["reason"].startswith("publishing") and "published" not in seen["counters"]
        assert seen["counters"]["on_stream"] % 40 == 0
        out, _ = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, out
    assert _status()["candle_stream"]["counters"]["on_stream"] == CANDLES


@pytest.mark.data
def test_following_reads_up_then_ended_and_counts_the_stream_published_again(
    env: dict[str, str], redis_url: str, prefix: str, client: redis.Redis
) -> None:
    stream = stream_name(prefix)
    child = _market_data(env, redis_url, prefix, "--follow")
    try:
        module = _wait_for("following", lambda m: m["reason"].startswith("following"))
        process = _process_of(child.pid)
        assert module["process"] == process.process_id and module["process_state"] == "UP"
        assert module["state"] == "ACTIVE"
        assert module["counters"] == {
            "candles": CANDLES, "already_on_stream": 0, "on_stream": CANDLES,
            "published": CANDLES, "redis_restarts": 0, "published_again": 0,
        }  # fmt: skip
        client.delete(stream, whole_key(stream))  # what a Redis restart loses
        while int(client.xlen(stream)) < CANDLES + 1:  # type: ignore[arg-type]
            assert child.poll() is None, "the follower ended before publishing again"
            time.sleep(0.05)
        client.set(end_read_key(stream), 1)  # an engine read the end
        out, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, out
    assert "published again 1x" in out
    module = _status()["candle_stream"]
    assert module["counters"]["published_again"] == 1
    assert module["reason"] == (
        f"ended: a reader read the end of {stream}; published again 1x while following"
    )
    assert module["process"] == process.process_id and module["process_state"] == "STOPPED"


@pytest.mark.data
def test_a_killed_market_data_leaves_its_module_with_a_process_that_is_not_stopped(
    env: dict[str, str], redis_url: str, prefix: str
) -> None:
    child = _market_data(env, redis_url, prefix, "--follow")
    try:
        _wait_for("following", lambda m: m["reason"].startswith("following"))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    process = _process_of(child.pid)
    module = _status()["candle_stream"]
    # no clean stop: the row reads UP until 3 periods without a beat have passed, then DOWN
    assert module["process"] == process.process_id and module["process_state"] == "UP"
    assert module["reason"].startswith("following")  # what it was doing when it died
    assert process.stopped_at is None
    late = process.beat_at + process.down_after_ms() + 1
    assert process.state(late) is ProcessState.DOWN and WallClock().now() < late


@pytest.mark.data
def test_market_data_refusing_a_stream_reports_its_module_failed(
    env: dict[str, str], frames: dict[str, Any], redis_url: str, prefix: str, client: redis.Redis
) -> None:
    other = ReplayFeed({"BTCUSDT": frames["BTCUSDT"]}, "1h")  # another replay on the prefix
    CandleStreamPublisher(client, prefix).publish(other, "1h")
    child = _market_data(env, redis_url, prefix)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 2, out
    module = _status()["candle_stream"]
    assert module["state"] == "FAILED"
    assert module["reason"].startswith("failed while publishing: DataError: ")
    assert "already ends a replay of 240 candles; this one has 480" in module["reason"]
    assert module["counters"] == {"candles": CANDLES}
    assert module["process"] == _process_of(child.pid).process_id
    assert module["process_state"] == "STOPPED"


def _module(name: str, reason: str = "on") -> ModuleStatus:
    return ModuleStatus(name, True, ModuleState.ACTIVE, reason, "r", 1, 1, {"n": 1})


def test_the_engine_and_market_data_keep_each_others_modules(sqlite_engine: Engine) -> None:
    """The engine's snapshot replaces every row but the roles' modules; the role's, its own."""
    engine = SqlStatusRepository(sqlite_engine)
    role = SqlStatusRepository(sqlite_engine, ("candle_stream",))
    engine.save([_module("market_data"), _module("risk")], at=1)
    role.save([_module("candle_stream", "publishing")], at=2)
    engine.save([_module("market_data", "run 2")], at=3)  # the next run: risk gone, not the role's
    assert {s.name: s.reason for s in engine.load_all()} == {
        "candle_stream": "publishing", "market_data": "run 2",
    }  # fmt: skip
    role.save([_module("candle_stream", "ended")], at=4)
    assert {s.name: s.reason for s in role.load_all()} == {
        "candle_stream": "ended", "market_data": "run 2",
    }  # fmt: skip
    with pytest.raises(ValueError, match="not this writer's"):
        engine.save([_module("candle_stream")], at=5)
    with pytest.raises(ValueError, match="not this writer's"):
        role.save([_module("market_data")], at=5)
