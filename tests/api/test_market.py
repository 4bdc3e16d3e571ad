"""``/candles`` and ``/benchmark`` over a seeded candle store and the dashboard's seeded run:
the exact candles and buy-and-hold values, 404 and 422, and schemathesis with content."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.generation.case import Case
from sqlalchemy import Engine

from quantum_trader.api.app import create_app
from quantum_trader.api.config import ApiConfig
from quantum_trader.clock.clock import SimulatedClock
from tests.api.conftest import START_MS, login
from tests.api.dashboard.seed import CANDLE_HOURS, HOURS, SYMBOLS, close_of, seed, seed_candles
from tests.api.schema_checks import check_operations, operations

HOUR = 3_600_000


@pytest.fixture
def market_app(
    config: ApiConfig, sqlite_engine: Engine, clock: SimulatedClock, tmp_path: Path
) -> FastAPI:
    seed(sqlite_engine)
    return create_app(config, sqlite_engine, clock, candles=seed_candles(tmp_path / "store"))


@pytest.fixture
def auth(market_app: FastAPI) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with TestClient(market_app) as client:
        token = login(client)["access_token"]
        client.cookies.clear()
        yield client, {"Authorization": f"Bearer {token}"}


def test_candles_are_the_newest_stored_ones_oldest_first(
    auth: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = auth
    body = client.get("/api/v1/candles?symbol=BTCUSDT&limit=3", headers=headers).json()
    assert body["total"] == len(CANDLE_HOURS)
    last = CANDLE_HOURS[-3:]
    assert [c["open_time"] for c in body["candles"]] == [START_MS + h * HOUR for h in last]
    assert [c["close"] for c in body["candles"]] == pytest.approx(
        [close_of("BTCUSDT", h) for h in last]
    )
    ranged = client.get(
        f"/api/v1/candles?symbol=ETHUSDT&start={START_MS}&end={START_MS + 10 * HOUR}",
        headers=headers,
    ).json()
    assert [c["open_time"] for c in ranged["candles"]] == [START_MS + h * HOUR for h in range(10)]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("symbol=SOLUSDT", 404),  # not in the store
        ("symbol=BTCUSDT&timeframe=4h", 404),  # no such series
        ("symbol=BTCUSDT&limit=0", 422),
        ("symbol=BTCUSDT&limit=5001", 422),
        ("symbol=../etc", 422),
        ("symbol=BTCUSDT&timeframe=1h/..", 422),
    ],
)
def test_candles_refuse_unknown_series_and_bad_limits(
    auth: tuple[TestClient, dict[str, str]], query: str, code: int
) -> None:
    client, headers = auth
    assert client.get(f"/api/v1/candles?{query}", headers=headers).status_code == code


def test_without_a_candle_store_the_market_routes_answer_404(
    client: TestClient, bearer: dict[str, str]
) -> None:
    for path in ("/api/v1/candles?symbol=BTCUSDT", "/api/v1/benchmark"):
        answer = client.get(path, headers=bearer)
        assert (answer.status_code, answer.json()) == (
            404,
            {"detail": "no candle store configured"},
        )


def test_benchmark_holds_the_runs_symbols_in_equal_weights(
    auth: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = auth
    body = client.get("/api/v1/benchmark", headers=headers).json()
    initial = 10_000.0  # the seeded curve's first point
    assert (body["run_id"], body["symbols"], body["missing"]) == ("r1", list(SYMBOLS), [])
    assert body["initial_equity"] == pytest.approx(initial) and body["step"] == 1
    assert len(body["points"]) == HOURS

    def held(h: int) -> float:
        return initial * sum(close_of(s, h) / close_of(s, 0) for s in SYMBOLS) / len(SYMBOLS)

    for h in (0, 1, 100, HOURS - 1):
        point = body["points"][h]
        assert point["time"] == START_MS + h * HOUR
        assert point["value"] == pytest.approx(held(h))
    assert body["total_return"] == pytest.approx(held(HOURS - 1) / initial - 1)
    thinned = client.get("/api/v1/benchmark?limit=10", headers=headers).json()
    assert len(thinned["points"]) <= 10 and thinned["points"][-1] == body["points"][-1]


def test_market_answers_with_content_keep_their_documented_schema(
    market_app: FastAPI, auth: tuple[TestClient, dict[str, str]]
) -> None:
    _, headers = auth
    paths = {"/api/v1/candles", "/api/v1/benchmark"}
    chosen = [op for op in operations(market_app, headers) if op.path in paths]
    assert {op.path for op in chosen} == paths

    def stored_symbol(case: Case) -> None:
        if case.query and "symbol" in case.query and case.query["symbol"] != "BTCUSDT":
            case.query = {**case.query, "symbol": "BTCUSDT"}  # answers with content

    check_operations(chosen, headers, stored_symbol)
