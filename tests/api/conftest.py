"""The API over a temporary SQLite database, on a simulated clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from quantum_trader.adapters.sql.tables import runs
from quantum_trader.api.app import create_app
from quantum_trader.api.config import ApiConfig
from quantum_trader.clock.clock import SimulatedClock

USERNAME = "operator"
#: canaries: neither may appear in any response or log line
PASSWORD = "canary-pass-4711-qwxz"
SECRET = "canary-secret-4711-0123456789abcdef"
START_MS = 1_800_000_000_000
#: (method, path) of the routes whose answer never ends (the live event stream): a test that
#: reads every route's whole answer opens these as streams, schemathesis leaves them out
ENDLESS = frozenset({("GET", "/api/v1/events")})


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START_MS)


@pytest.fixture
def config() -> ApiConfig:
    return ApiConfig(username=USERNAME, password=PASSWORD, secret=SECRET, token_minutes=60)


@pytest.fixture
def app(config: ApiConfig, sqlite_engine: Engine, clock: SimulatedClock) -> FastAPI:
    settings = {"api_password": "**********", "api_secret": "**********", "seed": 7}
    return create_app(config, sqlite_engine, clock, settings=settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def login(client: TestClient, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": USERNAME, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


@pytest.fixture
def bearer(client: TestClient) -> dict[str, str]:
    """An Authorization header for a fresh login (the client keeps no cookie of it)."""
    token = login(client)["access_token"]
    client.cookies.clear()
    return {"Authorization": f"Bearer {token}"}


def start_run(engine: Engine, run_id: str, started_at: int) -> None:
    """The ``runs`` row ``app/runtime.py`` writes when a run starts (it has no repository):
    the routes read the most recently started run's records."""
    with engine.begin() as conn:
        conn.execute(
            insert(runs).values(
                run_id=run_id, mode="paper", started_at=started_at, status="RUNNING"
            )
        )
