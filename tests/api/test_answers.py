"""Kept answers (``api/answers.py``): computed once while nothing they read changes, computed
again when it does, once for many waiting requests; and over HTTP, a change committed to the
database shows on the very next request."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Hashable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from quantum_trader.adapters.sql.data_version import data_version_reader
from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.api.answers import GZIP_FROM, AnswerCache, accepts_gzip
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.orders import Side
from quantum_trader.domain.positions import Trade
from quantum_trader.execution.store import CheckpointBatch
from quantum_trader.experiments.experiment import Experiment
from quantum_trader.experiments.records import Observation
from quantum_trader.experiments.spec import ArmSpec, ExperimentSpec
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.status.registry import ModuleState, ModuleStatus
from tests.api.conftest import START_MS, start_run


class Counter:
    """A database version and a stamp the test moves by hand, and a computation it counts."""

    def __init__(self) -> None:
        self.version = 1
        self.stamp = "s1"
        self.body = b"[1]"
        self.stamps_read = 0

    def read_version(self) -> int:
        return self.version

    def read_stamp(self) -> Hashable:
        self.stamps_read += 1
        return self.stamp


def ask(cache: AnswerCache, c: Counter, *, stamp: bool = True, tag: Hashable = None) -> bytes:
    kept = asyncio.run(
        cache.answer("k", lambda: c.body, stamp=c.read_stamp if stamp else None, tag=tag)
    )
    return kept.body


def test_an_answer_is_computed_again_only_when_its_records_change() -> None:
    c = Counter()
    cache = AnswerCache(c.read_version)
    assert [ask(cache, c) for _ in range(3)] == [b"[1]"] * 3
    assert (cache.computed, c.stamps_read) == (1, 1)  # nothing committed: not even the stamp
    c.version += 1  # a commit elsewhere (a heartbeat): the stamp is read, the answer stands
    c.body = b"[2]"
    assert ask(cache, c) == b"[1]" and (cache.computed, c.stamps_read) == (1, 2)
    assert ask(cache, c) == b"[1]" and c.stamps_read == 2
    c.version += 1
    c.stamp = "s2"  # its own records changed
    assert ask(cache, c) == b"[2]" and cache.computed == 2


def test_without_a_stamp_any_commit_computes_again_and_a_new_tag_does_too() -> None:
    c = Counter()
    cache = AnswerCache(c.read_version)
    ask(cache, c, stamp=False, tag=0)
    ask(cache, c, stamp=False, tag=0)
    assert cache.computed == 1
    c.version += 1
    ask(cache, c, stamp=False, tag=0)
    assert cache.computed == 2
    ask(cache, c, stamp=False, tag=1)  # /status: the next wall-clock second
    assert cache.computed == 3


def test_without_a_database_version_the_stamp_is_read_every_time() -> None:
    c = Counter()
    cache = AnswerCache(None)  # PostgreSQL
    for _ in range(3):
        ask(cache, c)
    assert (cache.computed, c.stamps_read) == (1, 3)
    c.stamp = "s2"
    c.body = b"[2]"
    assert ask(cache, c) == b"[2]" and cache.computed == 2
    for _ in range(2):
        ask(cache, c, stamp=False)
    assert cache.computed == 4  # no version, no stamp: computed for every request, as before


def test_many_waiting_requests_share_one_computation() -> None:
    c = Counter()
    cache = AnswerCache(c.read_version)
    running = threading.Event()

    def slow() -> bytes:
        running.set()
        time.sleep(0.2)
        return b"[1]"

    async def fifty() -> list[bytes]:
        return [k.body for k in await asyncio.gather(*(cache.answer("k", slow) for _ in range(50)))]

    assert asyncio.run(fifty()) == [b"[1]"] * 50
    assert running.is_set() and cache.computed == 1


def test_the_oldest_answer_is_dropped_past_the_capacity() -> None:
    c = Counter()
    cache = AnswerCache(c.read_version, capacity=2)
    for key in ("a", "b", "b", "c", "c", "a"):
        asyncio.run(cache.answer(key, lambda: c.body))
    assert cache.computed == 4  # a, b, c, then a again: dropped when c came


def test_the_version_moves_with_a_commit_by_another_connection(sqlite_engine: Engine) -> None:
    version = data_version_reader(sqlite_engine)
    assert version is not None
    before = version()
    assert version() == before
    KillSwitch(SqlRiskRepository(sqlite_engine), SimulatedClock(START_MS)).engage("x", by="t")
    assert version() != before
    assert data_version_reader(create_engine("sqlite:///:memory:")) is None
    assert data_version_reader(create_engine("postgresql+psycopg://u:p@localhost/db")) is None


def test_the_version_connection_is_closed_when_the_application_shuts_down(
    app: FastAPI, bearer: dict[str, str]
) -> None:
    version = app.state.answers._version
    assert version is not None
    with TestClient(app) as client:  # started and shut down, as uvicorn does
        assert client.get("/api/v1/trades?limit=10", headers=bearer).status_code == 200
        version()  # open while serving
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        version()
    with TestClient(app) as client:  # an answer after it: by its stamp, not the closed reader
        assert client.get("/api/v1/trades?limit=10", headers=bearer).status_code == 200


def commit(engine: Engine, cursor: int, trades: list[Trade]) -> None:
    SqlExecutionStore(engine).commit(
        CheckpointBatch("r1", cursor, START_MS + cursor, False, "{}", trades=trades)
    )


def trade(n: int) -> Trade:
    return Trade(
        f"r1-T{n}", "BTCUSDT", Side.BUY, 0.5, 100.0, 110.0, n, n + 1, 5.0, 0.0, 0.0, "s", "x"
    )


def test_new_trades_show_on_the_next_request(
    app: FastAPI, client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    start_run(sqlite_engine, "r1", START_MS)
    commit(sqlite_engine, 1, [trade(1)])

    def ids() -> list[str]:
        body = client.get("/api/v1/trades?limit=10", headers=bearer).json()
        return [t["trade_id"] for t in body["trades"]]

    assert ids() == ["r1-T1"]
    computed = app.state.answers.computed
    assert ids() == ["r1-T1"] and app.state.answers.computed == computed  # kept
    commit(sqlite_engine, 2, [trade(2)])
    assert ids() == ["r1-T2", "r1-T1"]
    start_run(sqlite_engine, "r2", START_MS + 10)  # a new run: its (no) trades at once
    assert ids() == []


def test_status_risk_and_experiments_show_a_change_on_the_next_request(
    app: FastAPI, client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    spec = ExperimentSpec("a-vs-b", (ArmSpec("a"), ArmSpec("b")))
    exp = Experiment.start(SqlExperimentStore(sqlite_engine), spec, START_MS)

    def samples() -> int:
        listed = client.get("/api/v1/experiments", headers=bearer).json()
        one = client.get("/api/v1/experiments/a-vs-b", headers=bearer).json()
        assert listed[0]["samples"] == one["samples"]
        return int(one["samples"])

    assert samples() == 0
    exp.observe(Observation(1, START_MS, {"a": 0.1, "b": 0.2}, {"a": 0.0, "b": 0.0}))
    assert samples() == 1

    # a commit to another table: the experiments are not read again, the status is
    computed = app.state.answers.computed
    SqlStatusRepository(sqlite_engine).save(
        [ModuleStatus("drift", True, ModuleState.ACTIVE, "ok", "r1")], START_MS
    )
    assert samples() == 1 and app.state.answers.computed == computed
    modules = client.get("/api/v1/status", headers=bearer).json()["modules"]
    assert [m["name"] for m in modules] == ["drift"]

    def engaged() -> bool:
        return bool(client.get("/api/v1/risk", headers=bearer).json()["kill_switch"]["engaged"])

    switch = KillSwitch(SqlRiskRepository(sqlite_engine), SimulatedClock(START_MS))
    assert engaged() is False
    switch.engage("maintenance", by="cli:operator")  # as the CLI does, not through the API
    assert engaged() is True
    switch.release(by="cli:operator", reason="done")
    assert engaged() is False


def test_a_client_that_accepts_gzip_gets_the_same_answer_gzipped(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    start_run(sqlite_engine, "r1", START_MS)
    commit(sqlite_engine, 1, [trade(n) for n in range(1, 41)])  # ~12 KB of JSON
    path = "/api/v1/trades?limit=1000"
    plain = client.get(path, headers={**bearer, "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and len(plain.content) > GZIP_FROM
    zipped = client.get(path, headers={**bearer, "Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.json() == plain.json() and len(zipped.json()["trades"]) == 40
    assert accepts_gzip("gzip, deflate") and accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0") and not accepts_gzip("br, deflate")


def test_kept_answers_still_need_a_token(client: TestClient, bearer: dict[str, str]) -> None:
    for path in ("/api/v1/status", "/api/v1/risk", "/api/v1/experiments", "/api/v1/positions"):
        assert client.get(path, headers=bearer).status_code == 200, path
        assert client.get(path).status_code == 401, path  # kept, and still refused
        assert json.loads(client.get(path).content)["detail"] == "not authenticated"
