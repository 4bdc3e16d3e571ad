"""The agents route: each learning agent's modules (or "not recorded"), its policy lines with
their versions, stages, reasons and the versions in production and in the shadow, the
Q-learner's tables, and the figures of the newest run whose summary reports it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from quantum_trader.adapters.sql.tables import runs
from quantum_trader.agents.qlearning import MODULE as QLEARNING_MODULE
from quantum_trader.api.reads_agents import AGENTS, RUNS_SCANNED
from quantum_trader.app.configs import qlearning_scope
from quantum_trader.app.rl_serving import MODULE, SIZER_POLICY, SIZING_MODULE
from quantum_trader.config.settings import Settings
from quantum_trader.learning.policies import SELECTOR_POLICY
from quantum_trader.rl.daemon import MODULE as TRAINING_MODULE
from tests.api.conftest import login, start_run
from tests.api.dashboard.seed_agents import (
    HOUR,
    PROMOTED_V2,
    QLEARNING_REASON,
    QSCOPE,
    SELECTOR_COUNTERS,
    SHADOWED_V3,
    SIZER_WHY,
    T0,
    WHY,
    seed_agents,
)
from tests.api.schema_checks import check_operations, operations

AGENTS_URL = "/api/v1/agents"


def by_agent(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["agent"]: a for a in body["agents"]}


def test_the_catalog_names_what_the_engine_writes() -> None:
    """The route names modules and lines the composition root defines (it may not import
    it): each name must be the one the engine writes under."""
    spec = {s.agent: s for s in AGENTS}
    assert [name for name, _ in spec["ppo_selector"].modules] == [MODULE, TRAINING_MODULE]
    assert spec["ppo_selector"].policy_name == SELECTOR_POLICY
    assert [name for name, _ in spec["qlearning"].modules] == [QLEARNING_MODULE]
    assert [name for name, _ in spec["rl_sizer"].modules] == [SIZING_MODULE]
    assert spec["rl_sizer"].policy_name == SIZER_POLICY


def test_without_records_every_part_says_not_recorded(
    client: TestClient, bearer: dict[str, str]
) -> None:
    agents = by_agent(client.get(AGENTS_URL, headers=bearer).json())
    assert list(agents) == ["ppo_selector", "qlearning", "rl_sizer"]
    for agent in agents.values():
        assert agent["lines"] == [] and agent["last_run"] is None
        assert all(not m["recorded"] and m["state"] is None for m in agent["modules"])
    assert agents["qlearning"]["qtables"] == []
    assert agents["ppo_selector"]["qtables"] is None


def test_modules_and_evidence_are_the_status_tables(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    seed_agents(sqlite_engine)
    agents = by_agent(client.get(AGENTS_URL, headers=bearer).json())
    selector = {m["name"]: m for m in agents["ppo_selector"]["modules"]}
    assert (selector["rl_meta_strategy"]["number"], selector["rl_v3_training"]["number"]) == (
        13,
        16,
    )
    assert selector["rl_meta_strategy"]["counters"] == SELECTOR_COUNTERS
    assert selector["rl_meta_strategy"]["state"] == "ACTIVE"
    assert selector["rl_v3_training"]["counters"] == {"trainings": 3}
    [qlearner] = agents["qlearning"]["modules"]
    assert (qlearner["state"], qlearner["reason"], qlearner["run_id"]) == (
        "DEGRADED",
        QLEARNING_REASON,
        "r-new",
    )
    [sizer] = agents["rl_sizer"]["modules"]  # module 15 has no status row
    assert (sizer["name"], sizer["number"], sizer["recorded"]) == ("rl_position_sizing", 15, False)
    assert sizer["state"] is None and sizer["counters"] == {}


def test_policy_lines_show_stages_reasons_production_and_shadow(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    seed_agents(sqlite_engine)
    agents = by_agent(client.get(AGENTS_URL, headers=bearer).json())
    [line] = agents["ppo_selector"]["lines"]  # the direction model's line is no agent's
    assert (line["key"], line["production"], line["shadow"], line["versions_total"]) == (
        "ppo_selector/global/h0",
        2,
        3,
        3,
    )
    versions = line["versions"]
    assert [(v["version"], v["stage"], v["why"]) for v in versions] == [
        (1, "RETIRED", WHY[1]),
        (2, "PRODUCTION", WHY[2]),
        (3, "SHADOW", WHY[3]),
    ]
    assert [v["created_at"] for v in versions] == [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    assert versions[1]["metrics"] == {"sharpe": 0.2, "calmar": None}  # NaN is not JSON
    assert versions[1]["algorithm"] == "ppo" and versions[1]["trained_at"] == T0
    moves = [(c["from_stage"], c["to_stage"], c["reason"]) for c in versions[1]["changes"]]
    assert moves == [(None, "CANDIDATE", WHY[2]), ("CANDIDATE", "PRODUCTION", PROMOTED_V2)]
    assert versions[2]["changes"][-1]["reason"] == SHADOWED_V3
    assert [c["to_stage"] for c in versions[0]["changes"]] == ["CANDIDATE", "PRODUCTION", "RETIRED"]
    [sizer] = agents["rl_sizer"]["lines"]
    assert (sizer["key"], sizer["production"], sizer["shadow"]) == ("rl_sizer/global/h0", None, 1)
    assert [(v["version"], v["stage"], v["why"]) for v in sizer["versions"]] == [
        (1, "SHADOW", SIZER_WHY)
    ]


def test_versions_caps_each_line_to_its_newest(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    seed_agents(sqlite_engine)
    body = client.get(f"{AGENTS_URL}?versions=2", headers=bearer).json()
    [line] = by_agent(body)["ppo_selector"]["lines"]
    assert [v["version"] for v in line["versions"]] == [2, 3] and line["versions_total"] == 3
    assert client.get(f"{AGENTS_URL}?versions=0", headers=bearer).status_code == 422


def test_the_qlearners_tables_are_the_stored_headers(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    seed_agents(sqlite_engine)
    tables = by_agent(client.get(AGENTS_URL, headers=bearer).json())["qlearning"]["qtables"]
    assert tables == [
        {
            "scope": QSCOPE,
            "state_space": "space-v1",
            "cells": 4,
            "updates": 240,
            "trades": 60,
            "decisions": 900,
            "saved_at": T0,
            "actions": ["Breakout", "MeanReversion", "TrendFollowing"],
            "states_total": 3,
            "states": [
                {
                    "state": "BULL|v2|c1|p+",
                    "regime": "BULL",
                    "vol": 2,
                    "confidence": 1,
                    "pnl": 1,
                    "visits": 6,
                    "actions": {
                        "Breakout": {"q": 0.5, "visits": 4},
                        "MeanReversion": {"q": -0.1, "visits": 2},
                    },
                },
                {
                    "state": "legacy-7",
                    "regime": None,
                    "vol": None,
                    "confidence": None,
                    "pnl": None,
                    "visits": 3,
                    "actions": {"TrendFollowing": {"q": 0.05, "visits": 3}},
                },
                {
                    "state": "NONE|v0|c0|p0",
                    "regime": "NONE",
                    "vol": 0,
                    "confidence": 0,
                    "pnl": 0,
                    "visits": 1,
                    "actions": {"Breakout": {"q": 0.2, "visits": 1}},
                },
            ],
        }
    ]
    settings = Settings(symbols=["ETHUSDT", "BTCUSDT"], timeframe="1h")  # the scope's own format
    assert qlearning_scope(settings) == QSCOPE


def test_qstates_caps_each_tables_states_to_the_most_visited(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    seed_agents(sqlite_engine)
    for cap, shown in ((2, ["BULL|v2|c1|p+", "legacy-7"]), (0, [])):
        body = client.get(f"{AGENTS_URL}?qstates={cap}", headers=bearer).json()
        [table] = by_agent(body)["qlearning"]["qtables"]
        assert [s["state"] for s in table["states"]] == shown
        assert table["states_total"] == 3 and table["cells"] == 4  # the whole table's counts
    assert client.get(f"{AGENTS_URL}?qstates=-1", headers=bearer).status_code == 422


def test_last_run_figures_come_from_the_newest_run_reporting_each_agent(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    seed_agents(sqlite_engine)
    agents = by_agent(client.get(AGENTS_URL, headers=bearer).json())
    selector = agents["ppo_selector"]["last_run"]  # r-new runs still: its summary is empty
    assert (selector["run_id"], selector["status"], selector["part"]) == (
        "r-mid",
        "FINISHED",
        "rl_agents",
    )
    figures = selector["figures"]
    assert figures["decisions_logged"] == 77
    assert figures["decisions.policy_decisions"] == SELECTOR_COUNTERS["policy_decisions"]
    assert figures["last_held_out"] == "held-out week: Sharpe +0.41"
    assert not any(k.startswith("sizer_shadow_pair") for k in figures)  # the sizer's part
    sizer = agents["rl_sizer"]["last_run"]  # r-mid's sizer pair had not finished
    assert (sizer["run_id"], sizer["part"]) == ("r-old", "rl_agents.sizer_shadow_pair")
    assert sizer["figures"] == {
        "entries_sized": 25,
        "mean_fraction": 0.62,
        "verdict": "rl_sizer shadow: ok",
    }
    qlearner = agents["qlearning"]["last_run"]
    assert qlearner["run_id"] == "r-old" and qlearner["finished_at"] == T0 + HOUR
    assert qlearner["figures"]["table.cells"] == 3 and qlearner["figures"]["table.epsilon"] is None
    assert qlearner["figures"]["verdict"] == QLEARNING_REASON


def test_only_the_newest_runs_naming_a_part_are_read(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    seed_agents(sqlite_engine)
    # newer runs that name the sizer's part without a finished pair push r-old out of reach
    for n in range(RUNS_SCANNED):
        start_run(sqlite_engine, f"r-late-{n}", T0 + (10 + n) * HOUR)
    with sqlite_engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.run_id.startswith("r-late-"))
            .values(summary_json='{"rl_agents": {"sizer_shadow_pair": null}}')
        )
    agents = by_agent(client.get(AGENTS_URL, headers=bearer).json())
    assert agents["rl_sizer"]["last_run"] is None
    assert agents["ppo_selector"]["last_run"]["run_id"] == f"r-late-{RUNS_SCANNED - 1}"
    assert agents["qlearning"]["last_run"]["run_id"] == "r-old"  # the others do not name it


def test_agents_need_credentials(client: TestClient) -> None:
    assert client.get(AGENTS_URL).status_code == 401


def test_a_populated_answer_keeps_its_documented_schema(
    app: FastAPI, client: TestClient, sqlite_engine: Engine
) -> None:
    """schemathesis on the seeded records (NaN figures, nested parts, every agent's parts)."""
    seed_agents(sqlite_engine)
    auth = {"Authorization": f"Bearer {login(client)['access_token']}"}
    [agents] = [op for op in operations(app, auth) if op.path == AGENTS_URL]
    check_operations([agents], auth)
