"""The last run's book as the engine's checkpoints store it: positions from the portfolio's
snapshot, fills newest first, the equity curve with its running peak, drawdown and balance."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
from quantum_trader.domain.orders import Fill, Side
from quantum_trader.execution.store import CheckpointBatch
from quantum_trader.portfolio.ledger import Ledger, LedgerKind
from quantum_trader.portfolio.portfolio import Portfolio
from tests.api.conftest import START_MS, start_run

HOUR = 3_600_000
T0 = START_MS - 100 * HOUR


def commit(
    engine: Engine, run_id: str, book: Portfolio, last_time: int = T0, **records: Any
) -> None:
    """One checkpoint of ``run_id`` at engine time ``last_time`` as the engine's
    ``Checkpointer`` writes it: the portfolio's snapshot in the state, the records beside it,
    in one transaction."""
    state = json.dumps({"portfolio": book.snapshot()}, sort_keys=True)
    SqlExecutionStore(engine).commit(CheckpointBatch(run_id, 1, last_time, False, state, **records))


def test_positions_are_the_last_runs_book_net_of_a_partial_close(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    older = Portfolio("r0")
    older.deposit(1_000.0, T0)
    older.apply_fill("XRPUSDT", Side.BUY, 10.0, 1.0, 0.0, T0, "r0-1")
    start_run(sqlite_engine, "r0", T0)
    commit(sqlite_engine, "r0", older)

    book = Portfolio("r1")
    book.deposit(10_000.0, T0)
    book.set_leverage("BTCUSDT", 5.0, 0.005)
    book.apply_fill("BTCUSDT", Side.BUY, 1.0, 100.0, 0.1, T0 + HOUR, "r1-1", fill_id="f1")
    book.apply_fill("BTCUSDT", Side.SELL, 0.4, 110.0, 0.05, T0 + 2 * HOUR, "r1-2", fill_id="f2")
    book.mark("BTCUSDT", 120.0)
    book.apply_fill("ETHUSDT", Side.SELL, 2.0, 50.0, 0.0, T0 + 3 * HOUR, "r1-3", fill_id="f3")
    book.mark("ETHUSDT", 45.0)
    book.apply_fill("SOLUSDT", Side.BUY, 3.0, 20.0, 0.0, T0 + 3 * HOUR, "r1-4", fill_id="f4")
    book.apply_fill("SOLUSDT", Side.SELL, 3.0, 21.0, 0.0, T0 + 4 * HOUR, "r1-5", fill_id="f5")
    start_run(sqlite_engine, "r1", T0 + HOUR)
    commit(sqlite_engine, "r1", book, last_time=T0 + 5 * HOUR)

    body = client.get("/api/v1/positions", headers=bearer).json()
    assert (body["run_id"], body["as_of"]) == ("r1", T0 + 5 * HOUR)
    btc, eth = body["positions"]  # by symbol; SOLUSDT is flat again
    btc_state = book.state("BTCUSDT")
    assert btc_state is not None
    assert btc == {
        "symbol": "BTCUSDT",
        "side": "LONG",
        "quantity": pytest.approx(0.6),
        "entry_price": 100.0,
        "mark_price": 120.0,
        "unrealized_pnl": pytest.approx(12.0),
        "notional": pytest.approx(72.0),
        "leverage": 5.0,
        "margin": pytest.approx(btc_state.margin),
        "liquidation_price": pytest.approx(btc_state.liq_price),
        "opened_at": T0 + HOUR,
    }
    assert btc_state.margin > 0 and btc_state.liq_price > 0
    assert (eth["side"], eth["quantity"], eth["entry_price"], eth["mark_price"]) == (
        "SHORT",
        2.0,
        50.0,
        45.0,
    )
    assert eth["unrealized_pnl"] == pytest.approx(10.0)


def test_positions_without_a_run_or_a_checkpoint(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    empty = {"run_id": None, "as_of": None, "positions": []}
    assert client.get("/api/v1/positions", headers=bearer).json() == empty
    start_run(sqlite_engine, "r1", T0)
    assert client.get("/api/v1/positions", headers=bearer).json() == {**empty, "run_id": "r1"}


def test_fills_are_the_last_runs_newest_first_limited(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    def fill(run: str, n: int, time: int) -> Fill:
        return Fill(
            f"{run}-F{n}", f"{run}-O{n}", "BTCUSDT", Side.BUY, 0.1 * n, 100.0 + n, 0.01, time
        )

    start_run(sqlite_engine, "r0", T0)
    commit(sqlite_engine, "r0", Portfolio("r0"), fills=[fill("r0", 9, T0 + 9 * HOUR)])
    start_run(sqlite_engine, "r1", T0 + HOUR)
    commit(
        sqlite_engine, "r1", Portfolio("r1"), fills=[fill("r1", 1, T0), fill("r1", 2, T0 + HOUR)]
    )
    commit(sqlite_engine, "r1", Portfolio("r1"), fills=[fill("r1", 3, T0 + 2 * HOUR)])

    body = client.get("/api/v1/fills", headers=bearer).json()
    assert body["run_id"] == "r1"
    assert [f["fill_id"] for f in body["fills"]] == ["r1-F3", "r1-F2", "r1-F1"]
    assert body["fills"][0] == {
        "fill_id": "r1-F3",
        "client_order_id": "r1-O3",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "quantity": pytest.approx(0.3),
        "price": 103.0,
        "fee": 0.01,
        "time": T0 + 2 * HOUR,
        "is_maker": False,
    }
    limited = client.get("/api/v1/fills?limit=2", headers=bearer).json()["fills"]
    assert [f["fill_id"] for f in limited] == ["r1-F3", "r1-F2"]
    assert client.get("/api/v1/fills?limit=0", headers=bearer).status_code == 422


#: a hand-made curve: peaks 100, 120, 120, 130, 130, 130
EQUITY = [100.0, 120.0, 90.0, 130.0, 117.0, 104.0]
DRAWDOWN = [0.0, 0.0, 0.25, 0.0, 0.1, 0.2]


def seed_equity(engine: Engine) -> None:
    """Run r1's curve, and its ledger: a deposit of 100, then +30 realised in hour 3."""
    ledger = Ledger()
    ledger.append(T0, LedgerKind.DEPOSIT, "", 100.0, "initial balance")
    ledger.append(T0 + 3 * HOUR, LedgerKind.REALIZED_PNL, "BTCUSDT", 30.0, "r1-1")
    curve = [(T0 + i * HOUR, e) for i, e in enumerate(EQUITY)]
    start_run(engine, "r1", T0)
    commit(engine, "r1", Portfolio("r1"), equity=curve, ledger=ledger.drain_pending())


def test_equity_has_the_running_peak_drawdown_and_balance_per_point(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    seed_equity(sqlite_engine)
    body = client.get("/api/v1/equity", headers=bearer).json()
    assert (body["run_id"], body["total_points"], body["step"]) == ("r1", 6, 1)
    assert body["max_drawdown"] == pytest.approx(0.25)
    assert body["balance"] == 130.0
    points = body["points"]
    assert [p["time"] for p in points] == [T0 + i * HOUR for i in range(6)]
    assert [p["equity"] for p in points] == EQUITY
    assert [p["peak"] for p in points] == [100.0, 120.0, 120.0, 130.0, 130.0, 130.0]
    assert [p["drawdown"] for p in points] == pytest.approx(DRAWDOWN)
    assert [p["balance"] for p in points] == [100.0, 100.0, 100.0, 130.0, 130.0, 130.0]


def test_equity_keeps_every_kth_point_and_the_last_with_the_peak_of_all(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    seed_equity(sqlite_engine)
    three = client.get("/api/v1/equity?limit=3", headers=bearer).json()
    assert three["step"] == 3  # indexes 0, 3, and the last (5)
    assert [p["equity"] for p in three["points"]] == [100.0, 130.0, 104.0]
    two = client.get("/api/v1/equity?limit=2", headers=bearer).json()
    assert [(p["equity"], p["drawdown"]) for p in two["points"]] == [
        (100.0, 0.0),
        (104.0, pytest.approx(0.2)),  # from the peak 130, a point not answered
    ]
    assert two["max_drawdown"] == pytest.approx(0.25)  # at 90, not answered either
    for bad in (1, 20_001):
        assert client.get(f"/api/v1/equity?limit={bad}", headers=bearer).status_code == 422


def test_a_two_year_hourly_curve_answers_at_most_limit_points(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    curve = [(T0 + i * HOUR, 1_000.0 + (i % 500)) for i in range(17_520)]
    start_run(sqlite_engine, "r1", T0)
    commit(sqlite_engine, "r1", Portfolio("r1"), equity=curve)
    body = client.get("/api/v1/equity", headers=bearer).json()
    assert (body["total_points"], body["step"], len(body["points"])) == (17_520, 9, 1_948)
    assert body["points"][-1]["time"] == curve[-1][0]
    assert [p["time"] for p in body["points"][:2]] == [T0, T0 + 9 * HOUR]
