"""schemathesis over the portfolio and model-registry routes on a database that has what they
read (a run with open positions, fills and an equity curve; a model line with a production
version; policies): their answers with content, not only the empty ones of
``test_openapi_schemathesis.py``, keep the documented schema, with no server error."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.generation.case import Case
from sqlalchemy import Engine

from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.orders import Fill, Side
from quantum_trader.execution.store import CheckpointBatch
from quantum_trader.learning.lineage import POLICY_KIND, Lineage
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.models.base import ModelMetadata
from quantum_trader.portfolio.portfolio import Portfolio
from tests.api.conftest import START_MS, login, start_run
from tests.api.schema_checks import check_operations, operations

HOUR = 3_600_000
#: the routes this file covers, each generated case on the populated database
PATHS = {
    "/api/v1/positions",
    "/api/v1/fills",
    "/api/v1/equity",
    "/api/v1/policies",
    "/api/v1/models/{name}/history",
    "/api/v1/models/{name}/promote",
    "/api/v1/models/{name}/rollback",
}


def seed(engine: Engine, clock: SimulatedClock) -> None:
    book = Portfolio("r1")
    book.deposit(10_000.0, START_MS)
    book.apply_fill("BTCUSDT", Side.BUY, 1.0, 100.0, 0.1, START_MS, "r1-1", fill_id="f1")
    book.apply_fill("BTCUSDT", Side.SELL, 0.4, 110.0, 0.1, START_MS + HOUR, "r1-2", fill_id="f2")
    book.mark("BTCUSDT", 120.0)
    fills = [
        Fill("f1", "r1-O1", "BTCUSDT", Side.BUY, 1.0, 100.0, 0.1, START_MS),
        Fill("f2", "r1-O2", "BTCUSDT", Side.SELL, 0.4, 110.0, 0.1, START_MS + HOUR, True),
    ]
    curve = [(START_MS + i * HOUR, 10_000.0 + 10 * math.sin(i)) for i in range(50)]
    state = json.dumps({"portfolio": book.snapshot()})
    start_run(engine, "r1", START_MS)
    SqlExecutionStore(engine).commit(
        CheckpointBatch(
            "r1", 1, START_MS + 49 * HOUR, False, state, fills=fills, equity=curve,
            ledger=book.ledger.drain_pending(),
        )
    )  # fmt: skip
    reg = ModelRegistry(SqlRegistryRepository(engine), clock)
    meta = ModelMetadata("xgb", "1", "BTCUSDT", 4, ("ret_1",), {"eta": 0.1}, (0, 9), "d")
    for n in (1, 2, 3):
        reg.register(meta, f"hash-{n}", actor="cli:trainer", reason="trained")
    reg.promote(ModelKey("xgb", "BTCUSDT", 4), 1, actor="a", reason="r", to=Stage.PRODUCTION)
    reg.promote(ModelKey("xgb", "BTCUSDT", 4), 2, actor="a", reason="r", to=Stage.PRODUCTION)
    policy = Lineage(POLICY_KIND, "ppo_selector", "BTCUSDT", 0, None, "d", {}, {"sharpe": 1.0})
    reg.register(policy, "bundle-1", actor="rl:daemon", reason="trained")


@pytest.fixture
def auth(app: FastAPI, sqlite_engine: Engine, clock: SimulatedClock) -> Iterator[dict[str, str]]:
    seed(sqlite_engine, clock)
    with TestClient(app) as client:
        yield {"Authorization": f"Bearer {login(client)['access_token']}"}


def test_populated_answers_keep_their_documented_schema(app: FastAPI, auth: dict[str, str]) -> None:
    chosen = [op for op in operations(app, auth) if op.path in PATHS]
    assert {op.path for op in chosen} == PATHS

    def seeded_line(case: Case) -> None:
        if "name" in (case.path_parameters or {}):
            # the seeded line, so that answers with content are generated, not only 404s
            case.path_parameters = {"name": "xgb"}
            case.query = {**(case.query or {}), "scope": "BTCUSDT", "horizon": 4}

    check_operations(chosen, auth, seeded_line)
