"""The routes read what the adapters hold: the kill switch the engine reads, module status,
experiments; /metrics in Prometheus text."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, insert

from quantum_trader.adapters.sql import locked
from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.adapters.sql.service_health import SqlServiceHealth
from quantum_trader.adapters.sql.tables import runs
from quantum_trader.clock.clock import WallClock
from quantum_trader.domain.orders import Order, OrderStatus, OrderType, Side
from quantum_trader.domain.positions import Trade
from quantum_trader.execution.store import CheckpointBatch
from quantum_trader.experiments.spec import ArmSpec, ExperimentSpec
from quantum_trader.status.registry import ModuleState, ModuleStatus
from quantum_trader.status.services import ServiceProcess
from tests.api.conftest import START_MS, USERNAME
from tests.sqlite_lock import hold_write_lock

KILL = "/api/v1/risk/kill-switch"


def test_ping_and_health_need_no_credentials(client: TestClient) -> None:
    assert client.get("/api/v1/ping").json() == {"ping": "pong"}
    assert client.get("/api/v1/health").json() == {"status": "ok", "database": True}


def test_kill_switch_via_the_api_is_what_the_engine_reads(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    on = client.post(KILL, json={"on": True, "reason": "maintenance"}, headers=bearer)
    assert on.status_code == 200
    state = SqlRiskRepository(sqlite_engine).latest_kill_switch()
    assert state is not None and state.engaged
    assert (state.reason, state.changed_by, state.changed_at) == (
        "maintenance",
        f"api:{USERNAME}",
        START_MS,
    )
    assert client.get("/api/v1/risk", headers=bearer).json()["kill_switch"]["engaged"] is True
    off = client.post(KILL, json={"on": False, "reason": "done"}, headers=bearer)
    assert off.json()["engaged"] is False
    state = SqlRiskRepository(sqlite_engine).latest_kill_switch()
    assert state is not None and not state.engaged and state.reason == "done"


def test_a_kill_switch_change_needs_a_reason(client: TestClient, bearer: dict[str, str]) -> None:
    assert client.post(KILL, json={"on": True, "reason": ""}, headers=bearer).status_code == 422


def test_status_shows_every_stored_module(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    stored = [
        ModuleStatus("risk_engine", True, ModuleState.ACTIVE, "ok", "run-1", counters={"decisions": 12}),
        ModuleStatus("drift", False, ModuleState.DISABLED, "switched off", "run-1"),
    ]  # fmt: skip
    SqlStatusRepository(sqlite_engine).save(stored, START_MS)
    body = client.get("/api/v1/status", headers=bearer).json()
    modules = {m["name"]: m for m in body["modules"]}
    assert modules["risk_engine"]["counters"] == {"decisions": 12}
    assert modules["risk_engine"]["state"] == "ACTIVE"
    assert modules["drift"]["state"] == "DISABLED" and modules["drift"]["reason"] == "switched off"
    assert body["engine"]["alive"] is False
    assert modules["risk_engine"]["process"] is None and body["processes"] == []


def test_status_names_each_modules_process_and_a_dead_one_reads_down(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    SqlStatusRepository(sqlite_engine).save(
        [ModuleStatus("risk_engine", True, ModuleState.ACTIVE, "ok", "run-1")], START_MS
    )
    health, wall = SqlServiceHealth(sqlite_engine), WallClock().now()
    beating = ServiceProcess("engine@box:7:1", "engine", "box", 7, "run-1", 15_000, wall, wall,
                             modules=("risk_engine",))  # fmt: skip
    gone = ServiceProcess("api@box:8:1", "api", "box", 8, None, 15_000, wall - 60_000,
                          wall - 46_000)  # fmt: skip
    health.start(beating)
    health.start(gone)
    body = client.get("/api/v1/status", headers=bearer).json()
    module = {m["name"]: m for m in body["modules"]}["risk_engine"]
    assert (module["process"], module["process_state"]) == ("engine@box:7:1", "UP")
    states = {p["role"]: (p["state"], p["down_after_ms"]) for p in body["processes"]}
    assert states == {"engine": ("UP", 45_000), "api": ("DOWN", 45_000)}


def test_experiments_are_those_the_store_holds(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    spec = ExperimentSpec("ppo-vs-q", (ArmSpec("control"), ArmSpec("ppo")))
    SqlExperimentStore(sqlite_engine).create(spec, START_MS)
    listed = client.get("/api/v1/experiments", headers=bearer).json()
    assert [(e["name"], e["arms"], e["status"]) for e in listed] == [
        ("ppo-vs-q", ["control", "ppo"], "running")
    ]
    one = client.get("/api/v1/experiments/ppo-vs-q", headers=bearer).json()
    assert one["control"] == "control" and one["samples"] == 0
    assert one["spec"]["name"] == "ppo-vs-q"
    assert client.get("/api/v1/experiments/nope", headers=bearer).status_code == 404


def test_empty_database_reads(client: TestClient, bearer: dict[str, str]) -> None:
    for path in ("/api/v1/models", "/api/v1/trials", "/api/v1/risk/decisions"):
        assert client.get(path, headers=bearer).json() == [], path
    assert client.get("/api/v1/trades", headers=bearer).json()["run_id"] is None
    settings = client.get("/api/v1/config", headers=bearer).json()["settings"]
    assert settings["api_password"] == "**********"


def test_metrics_parse_and_count_requests_per_route(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    SqlStatusRepository(sqlite_engine).save(
        [ModuleStatus("risk_engine", True, ModuleState.ACTIVE, "ok", counters={"decisions": 3})],
        START_MS,
    )
    client.get("/api/v1/status", headers=bearer)
    client.get("/api/v1/experiments/x", headers=bearer)
    text = client.get("/metrics", headers=bearer).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = {
        (s.labels["route"], s.labels["status"]) for s in families["qt_api_requests"].samples
    }
    assert ("/api/v1/status", "200") in requests
    assert ("/api/v1/experiments/{name}", "404") in requests
    assert "qt_api_request_seconds" in families and "qt_api_errors" in families
    evidence = families["qt_module_evidence"].samples
    assert [(s.labels, s.value) for s in evidence] == [
        ({"module": "risk_engine", "counter": "decisions"}, 3.0)
    ]


def test_trades_and_orders_are_the_last_runs(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    with sqlite_engine.begin() as conn:  # what app/runtime.py writes when a run starts
        conn.execute(
            insert(runs).values(run_id="r1", mode="paper", started_at=START_MS, status="RUNNING")
        )
    order = Order("r1-BTCUSDT-1", "BTCUSDT", Side.BUY, OrderType.MARKET, 0.5, created_at=0)
    trade = Trade("r1-T1", "BTCUSDT", Side.BUY, 0.5, 100.0, 110.0, 5, 9, 5.0, 0.05, 0.01, "s", "x")
    batch = CheckpointBatch("r1", 1, 10, False, "{}", orders=[order], trades=[trade])
    SqlExecutionStore(sqlite_engine).commit(batch)
    trades = client.get("/api/v1/trades", headers=bearer).json()
    assert trades["run_id"] == "r1" and trades["orders"] == []
    assert [(t["trade_id"], t["side"], t["pnl"]) for t in trades["trades"]] == [
        ("r1-T1", "BUY", 5.0)
    ]
    orders = client.get("/api/v1/orders?limit=1", headers=bearer).json()["orders"]
    assert [(o["client_order_id"], o["order_type"], o["status"]) for o in orders] == [
        ("r1-BTCUSDT-1", OrderType.MARKET.value, OrderStatus.NEW.value)
    ]


def test_the_api_kill_switch_waits_for_a_locked_database_then_answers_503(
    client: TestClient,
    bearer: dict[str, str],
    sqlite_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another writer holding SQLite's write lock past the 5 s busy timeout made the POST a
    500 ("database is locked"), the switch not engaged. It waits now (up to a minute), and
    past that answers 503 saying the switch is NOT engaged."""
    path = Path(str(sqlite_engine.url.database))

    holder = hold_write_lock(path, 7.0)
    on = client.post(KILL, json={"on": True, "reason": "maintenance"}, headers=bearer)
    holder.join()
    assert on.status_code == 200, on.text
    assert client.get(KILL, headers=bearer).json()["engaged"] is True

    monkeypatch.setattr(locked, "LOCKED_WAIT_S", 1.0)
    holder = hold_write_lock(path, 8.0)
    off = client.post(KILL, json={"on": False, "reason": "done"}, headers=bearer)
    holder.join()
    assert off.status_code == 503, off.text
    assert "the kill switch is NOT released: the database stayed locked" in off.json()["detail"]
    assert client.get(KILL, headers=bearer).json()["engaged"] is True
