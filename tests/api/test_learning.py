"""Continuous learning over the API: the versions judged now (SHADOW, CANARY) with why they
were trained and moved, each line's triggers as the last run's daemon saved them, and the
rules' newest verdicts."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.adapters.sql.tables import runs
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.learning.registry import Stage
from tests.api.conftest import START_MS
from tests.api.test_models import KEY, register_xgb, registry

MINUTE = 60_000


def as_trigger(row: list[object]) -> dict[str, object]:
    return dict(zip(("kind", "model", "symbol", "at", "detail"), row, strict=True))


def seed(engine: Engine, clock: SimulatedClock) -> None:
    """xgb/BTCUSDT/h4: v1 in production, v2 in the shadow, v3 retired by the shadow rule."""
    reg = register_xgb(engine, clock, versions=3)
    reg.promote(KEY, 1, actor="cli:alice", reason="bootstrap", to=Stage.PRODUCTION)
    clock.advance_to(START_MS + MINUTE)
    reg.promote(KEY, 3, actor="rule:continuous-learning", reason="passed the gate")
    clock.advance_to(START_MS + 2 * MINUTE)
    reg.retire(KEY, 3, actor="rule:shadow", reason="worse than the champion: log-loss +0.02")
    clock.advance_to(START_MS + 3 * MINUTE)
    reg.promote(KEY, 2, actor="rule:continuous-learning", reason="passed the gate: 0.91 < 0.93")


def test_challengers_and_the_rules_verdicts(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine, clock: SimulatedClock
) -> None:
    seed(sqlite_engine, clock)
    body = client.get("/api/v1/learning", headers=bearer).json()
    assert body["run_id"] is None and body["lines"] == []
    assert body["challengers"] == [
        {
            "key": "xgb/BTCUSDT/h4",
            "version": 2,
            "stage": "SHADOW",
            "since": START_MS + 3 * MINUTE,
            "actor": "rule:continuous-learning",
            "reason": "passed the gate: 0.91 < 0.93",
            "registered_reason": "trained 2",
        }
    ]
    verdicts = [(v["version"], v["to_stage"], v["actor"], v["reason"]) for v in body["verdicts"]]
    assert verdicts == [  # newest first, the rules' own only (not cli:alice, not registrations)
        (2, "SHADOW", "rule:continuous-learning", "passed the gate: 0.91 < 0.93"),
        (3, "RETIRED", "rule:shadow", "worse than the champion: log-loss +0.02"),
        (3, "SHADOW", "rule:continuous-learning", "passed the gate"),
    ]
    two = client.get("/api/v1/learning?limit=2", headers=bearer).json()
    assert [v["version"] for v in two["verdicts"]] == [2, 3]


def test_lines_come_from_the_last_runs_daemon(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    with sqlite_engine.begin() as conn:
        for run_id, started in (("old", START_MS), ("r2", START_MS + MINUTE)):
            conn.execute(
                insert(runs).values(run_id=run_id, mode="run", started_at=started, status="DONE")
            )
    state = SqlIntelligenceStateRepository(sqlite_engine)
    drift = ["DRIFT", "xgb", "BTCUSDT", START_MS + 5 * MINUTE, "psi 0.31"]
    schedule = ["SCHEDULE", "nhits", "global", START_MS, "7 days since the last training"]
    state.save("learning/old", json.dumps({"lgbm/BTCUSDT/h4": {"last_trained": 1}}), START_MS)
    document = {
        "xgb/BTCUSDT/h4": {"last_trained": START_MS, "waiting": [drift], "in_flight": None},
        "nhits/global/h4": {"last_trained": None, "waiting": [], "in_flight": schedule},
    }
    state.save("learning/r2", json.dumps(document), START_MS + 6 * MINUTE)

    body = client.get("/api/v1/learning", headers=bearer).json()
    assert body["run_id"] == "r2"
    assert body["lines"] == [
        {
            "line": "nhits/global/h4",
            "last_trained": None,
            "in_flight": as_trigger(schedule),
            "waiting": [],
        },
        {
            "line": "xgb/BTCUSDT/h4",
            "last_trained": START_MS,
            "in_flight": None,
            "waiting": [as_trigger(drift)],
        },
    ]


def test_a_canary_is_a_challenger_too(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine, clock: SimulatedClock
) -> None:
    seed(sqlite_engine, clock)
    reg = registry(sqlite_engine, clock)
    clock.advance_to(START_MS + 4 * MINUTE)
    reg.promote(KEY, 2, actor="rule:rollout", reason="better than the champion: +0.4 [0.1, 0.7]")
    (challenger,) = client.get("/api/v1/learning", headers=bearer).json()["challengers"]
    assert (challenger["version"], challenger["stage"], challenger["since"]) == (
        2,
        "CANARY",
        START_MS + 4 * MINUTE,
    )
    assert challenger["reason"].startswith("better than the champion")
