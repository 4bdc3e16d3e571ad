"""The model registry over the API: a line's history, promote and rollback through the
registry (audited as api:<user>, CSRF-guarded for a cookie session, 404 and 409 with the
registry's reasons), and the agents' policies newest first."""

from __future__ import annotations

import math

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.learning.lineage import POLICY_KIND, Lineage
from quantum_trader.learning.registry import Action, ModelKey, ModelRegistry, Stage
from quantum_trader.models.base import ModelMetadata
from tests.api.conftest import START_MS, login

KEY = ModelKey("xgb", "BTCUSDT", 4)
LINE = "scope=BTCUSDT&horizon=4"
HISTORY = f"/api/v1/models/xgb/history?{LINE}"
PROMOTE = f"/api/v1/models/xgb/promote?{LINE}"
ROLLBACK = f"/api/v1/models/xgb/rollback?{LINE}"
MINUTE = 60_000


def registry(engine: Engine, clock: SimulatedClock) -> ModelRegistry:
    return ModelRegistry(SqlRegistryRepository(engine), clock)


def register_xgb(engine: Engine, clock: SimulatedClock, versions: int = 2) -> ModelRegistry:
    """``versions`` CANDIDATE versions of xgb/BTCUSDT/h4, as ``quantum-trader train`` does."""
    reg = registry(engine, clock)
    meta = ModelMetadata("xgb", "1", "BTCUSDT", 4, ("ret_1",), {"eta": 0.1}, (0, 9), "d")
    for n in range(1, versions + 1):
        reg.register(meta, f"hash-{n}", actor="cli:trainer", reason=f"trained {n}")
    return reg


def test_history_lists_versions_and_every_change_in_order(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine, clock: SimulatedClock
) -> None:
    reg = register_xgb(sqlite_engine, clock)
    clock.advance_to(START_MS + MINUTE)
    reg.promote(KEY, 1, actor="cli:alice", reason="best so far", to=Stage.PRODUCTION)
    clock.advance_to(START_MS + 2 * MINUTE)
    reg.promote(KEY, 2, actor="rule:shadow", reason="shadow it")

    body = client.get(HISTORY, headers=bearer).json()
    assert (body["key"], body["production"]) == ("xgb/BTCUSDT/h4", 1)
    assert [(v["version"], v["stage"], v["artifact_hash"]) for v in body["versions"]] == [
        (1, "PRODUCTION", "hash-1"),
        (2, "SHADOW", "hash-2"),
    ]
    changes = [
        (
            c["version"],
            c["from_stage"],
            c["to_stage"],
            c["action"],
            c["at"],
            c["actor"],
            c["reason"],
        )
        for c in body["changes"]
    ]
    assert changes == [
        (1, None, "CANDIDATE", "REGISTER", START_MS, "cli:trainer", "trained 1"),
        (2, None, "CANDIDATE", "REGISTER", START_MS, "cli:trainer", "trained 2"),
        (1, "CANDIDATE", "PRODUCTION", "PROMOTE", START_MS + MINUTE, "cli:alice", "best so far"),
        (2, "CANDIDATE", "SHADOW", "PROMOTE", START_MS + 2 * MINUTE, "rule:shadow", "shadow it"),
    ]
    assert all(isinstance(c["recorded_at"], int) for c in body["changes"])


def test_an_unknown_line_is_404_naming_the_known_ones(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine, clock: SimulatedClock
) -> None:
    register_xgb(sqlite_engine, clock, versions=1)
    other = client.get("/api/v1/models/xgb/history?scope=ETHUSDT&horizon=4", headers=bearer)
    assert other.status_code == 404
    assert other.json()["detail"] == (
        "no model line xgb/ETHUSDT/h4 in the registry (the lines of 'xgb': xgb/BTCUSDT/h4)"
    )
    unknown = client.get("/api/v1/models/lgbm/history?scope=BTCUSDT&horizon=4", headers=bearer)
    assert unknown.status_code == 404 and "no line of model 'lgbm'" in unknown.json()["detail"]
    body = {"version": 1, "reason": "x"}
    assert client.post(PROMOTE.replace("xgb", "lgbm"), json=body, headers=bearer).status_code == 404
    assert (
        client.post(ROLLBACK.replace("xgb", "lgbm"), json=body, headers=bearer).status_code == 404
    )
    missing = client.post(PROMOTE, json={"version": 9, "reason": "x"}, headers=bearer)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "xgb/BTCUSDT/h4 has no version 9"
    no_scope = client.get("/api/v1/models/xgb/history?horizon=4", headers=bearer)
    assert no_scope.status_code == 422
    assert no_scope.json()["detail"][0]["loc"] == ["query", "scope"]


def test_promote_and_rollback_change_the_registry_audited_as_the_api_user(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine, clock: SimulatedClock
) -> None:
    reg = register_xgb(sqlite_engine, clock)
    reg.promote(KEY, 1, actor="cli:alice", reason="first", to=Stage.PRODUCTION)

    shadow = client.post(PROMOTE, json={"version": 2, "reason": "looks good"}, headers=bearer)
    assert shadow.status_code == 200
    assert (shadow.json()["version"], shadow.json()["stage"]) == (2, "SHADOW")
    assert reg.get(KEY, 2).stage is Stage.SHADOW

    body = {"version": 2, "to": "PRODUCTION", "reason": "beats v1"}
    assert client.post(PROMOTE, json=body, headers=bearer).json()["stage"] == "PRODUCTION"
    assert (reg.get(KEY, 1).stage, reg.get(KEY, 2).stage) == (Stage.RETIRED, Stage.PRODUCTION)
    production = reg.production(KEY)
    assert production is not None and production.version == 2

    back = client.post(ROLLBACK, json={"reason": "v2 misbehaves"}, headers=bearer)
    assert back.status_code == 200 and back.json()["version"] == 1
    assert (reg.get(KEY, 1).stage, reg.get(KEY, 2).stage) == (Stage.PRODUCTION, Stage.RETIRED)

    by_api = [c for c in reg.history(KEY) if c.actor == "api:operator"]
    assert [(c.version, c.to_stage, c.action, c.reason, c.at) for c in by_api] == [
        (2, Stage.SHADOW, Action.PROMOTE, "looks good", START_MS),
        (1, Stage.RETIRED, Action.REPLACED, "replaced by v2: beats v1", START_MS),
        (2, Stage.PRODUCTION, Action.PROMOTE, "beats v1", START_MS),
        (2, Stage.RETIRED, Action.ROLLBACK, "v2 misbehaves", START_MS),
        (1, Stage.PRODUCTION, Action.ROLLBACK, "v2 misbehaves", START_MS),
    ]


def test_a_refused_stage_change_is_409_with_the_registrys_reason(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine, clock: SimulatedClock
) -> None:
    reg = register_xgb(sqlite_engine, clock)
    reg.promote(KEY, 2, actor="cli:alice", reason="r", to=Stage.CANARY)
    backwards = client.post(
        PROMOTE, json={"version": 2, "to": "SHADOW", "reason": "undo"}, headers=bearer
    )
    assert backwards.status_code == 409
    assert backwards.json()["detail"] == (
        "xgb/BTCUSDT/h4 v2: CANARY → SHADOW moves backwards; "
        "stages only move forward (or to RETIRED)"
    )
    assert reg.get(KEY, 2).stage is Stage.CANARY
    nothing = client.post(ROLLBACK, json={"reason": "r"}, headers=bearer)
    assert nothing.status_code == 409
    assert nothing.json()["detail"] == "xgb/BTCUSDT/h4: nothing in PRODUCTION to roll back"
    no_reason = client.post(PROMOTE, json={"version": 1, "reason": ""}, headers=bearer)
    assert no_reason.status_code == 422
    bad_stage = client.post(
        PROMOTE, json={"version": 1, "to": "LIVE", "reason": "r"}, headers=bearer
    )
    assert bad_stage.status_code == 422
    assert reg.get(KEY, 1).stage is Stage.CANDIDATE


def test_a_cookie_session_needs_the_csrf_token_to_promote_or_roll_back(
    client: TestClient, sqlite_engine: Engine, clock: SimulatedClock
) -> None:
    reg = register_xgb(sqlite_engine, clock)
    csrf = login(client)["csrf_token"]  # the client now holds both cookies
    body = {"version": 1, "reason": "csrf test"}
    assert client.post(PROMOTE, json=body).status_code == 403
    assert client.post(PROMOTE, json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.post(ROLLBACK, json={"reason": "csrf test"}).status_code == 403
    assert reg.get(KEY, 1).stage is Stage.CANDIDATE
    accepted = client.post(PROMOTE, json=body, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 200 and reg.get(KEY, 1).stage is Stage.SHADOW


def policy_lineage(scope: str, metrics: dict[str, float]) -> Lineage:
    """A PPO selector's lineage as ``learning/policies.policy_lineage`` writes it."""
    return Lineage(
        POLICY_KIND, "ppo_selector", scope, 0, (0, 9), "d", {"seed": 7}, metrics, START_MS,
        {"algorithm": "ppo"},
    )  # fmt: skip


def test_policies_are_the_registrys_policy_versions_newest_first(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine, clock: SimulatedClock
) -> None:
    reg = registry(sqlite_engine, clock)
    for n, scope in enumerate(("BTCUSDT", "BTCUSDT", "ETHUSDT"), start=1):
        clock.advance_to(START_MS + n * MINUTE)
        metrics = {"sharpe": 0.5 * n, "calmar": math.nan}
        reg.register(policy_lineage(scope, metrics), f"bundle-{n}", actor="rl:daemon", reason="r")
    register_xgb(sqlite_engine, clock, versions=1)  # the newest version: a direction model
    reg.promote(
        ModelKey("ppo_selector", "BTCUSDT", 0), 1, actor="a", reason="r", to=Stage.PRODUCTION
    )

    listed = client.get("/api/v1/policies", headers=bearer).json()
    assert [(p["key"], p["version"], p["artifact_hash"]) for p in listed] == [
        ("ppo_selector/ETHUSDT/h0", 1, "bundle-3"),
        ("ppo_selector/BTCUSDT/h0", 2, "bundle-2"),
        ("ppo_selector/BTCUSDT/h0", 1, "bundle-1"),
    ]
    assert listed[2] == {
        "key": "ppo_selector/BTCUSDT/h0",
        "name": "ppo_selector",
        "scope": "BTCUSDT",
        "version": 1,
        "stage": "PRODUCTION",
        "production": True,
        "algorithm": "ppo",
        "artifact_hash": "bundle-1",
        "created_at": START_MS + MINUTE,
        "trained_at": START_MS,
        "metrics": {"sharpe": 0.5, "calmar": None},
    }
    assert [p["production"] for p in listed] == [False, False, True]
    newest = client.get("/api/v1/policies?limit=2", headers=bearer).json()
    assert [p["artifact_hash"] for p in newest] == ["bundle-3", "bundle-2"]
    assert client.get("/api/v1/policies?limit=0", headers=bearer).status_code == 422
