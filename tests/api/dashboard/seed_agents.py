"""The learning agents' records for the agents route and page tests, written through the
project's own writers (the status table, the registry, the Q-table repository) and the runs
rows ``app/runtime.py`` writes:

* modules 13, 14 and 16 with evidence; module 15 never registered (its status not recorded);
* ``ppo_selector/global/h0``: v1 in production, then v2 replacing it (v1 retired), v3 in the
  shadow; ``rl_sizer/global/h0``: v1 in the shadow; a direction model line beside them;
* a Q-table of one market;
* three runs: the oldest reports every agent, the middle one the PPO selector only (its sizer
  pair had not finished), the newest is still running (an empty summary).
"""

from __future__ import annotations

import json
import math

from sqlalchemy import Engine, insert

from quantum_trader.adapters.sql.qtable_repository import SqlQTableRepository
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.tables import runs
from quantum_trader.agents.qtable import QCell, QTableSnapshot
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.learning.lineage import POLICY_KIND, Lineage
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.models.base import ModelMetadata
from quantum_trader.status.registry import ModuleState, ModuleStatus

T0 = 1_700_000_000_000
HOUR = 3_600_000
SELECTOR = ModelKey("ppo_selector", "global", 0)
SIZER = ModelKey("rl_sizer", "global", 0)
QSCOPE = "qlearning/BTCUSDT,ETHUSDT/1h"
#: the reasons the versions were registered and moved with (the page and route show them)
WHY = {1: "first policy: none on the line", 2: "scheduled training", 3: "scheduled training"}
PROMOTED_V2 = "held-out Sharpe +0.41 [0.12, 0.70] and shadow +0.30 [0.05, 0.55] above the rules"
SHADOWED_V3 = "held-out week beat the rules; shadow account not yet"
SIZER_WHY = "first sizer policy"
#: the Q-table's cells: two states by their keys (BULL visited most) and one key no state
#: space of this code writes (a table from elsewhere: shown, not decoded)
QCELLS = (
    QCell("BULL|v2|c1|p+", "Breakout", 0.5, 4), QCell("BULL|v2|c1|p+", "MeanReversion", -0.1, 2),
    QCell("NONE|v0|c0|p0", "Breakout", 0.2, 1), QCell("legacy-7", "TrendFollowing", 0.05, 3),
)  # fmt: skip
SELECTOR_COUNTERS = {"policy_decisions": 412, "fallback_decisions": 17, "production_version": 2}
QLEARNING_REASON = "vs regime_rules: 31 trades, net +12.40"


def policy_lineage(name: str, sharpe: float) -> Lineage:
    return Lineage(
        POLICY_KIND, name, "global", 0, (0, 9), "d", {"seed": 7},
        {"sharpe": sharpe, "calmar": math.nan}, T0, {"algorithm": "ppo"},
    )  # fmt: skip


def _registry(engine: Engine) -> None:
    clock = SimulatedClock(T0)
    reg = ModelRegistry(SqlRegistryRepository(engine), clock)
    for n in (1, 2, 3):
        clock.advance_to(T0 + n * HOUR)
        lineage = policy_lineage("ppo_selector", 0.1 * n)
        reg.register(lineage, f"bundle-{n}", actor="rl:daemon", reason=WHY[n])
    reg.promote(SELECTOR, 1, actor="rl:daemon", reason="bootstrap", to=Stage.PRODUCTION)
    clock.advance_to(T0 + 5 * HOUR)
    reg.promote(SELECTOR, 2, actor="rl:daemon", reason=PROMOTED_V2, to=Stage.PRODUCTION)
    clock.advance_to(T0 + 6 * HOUR)
    reg.promote(SELECTOR, 3, actor="rl:daemon", reason=SHADOWED_V3, to=Stage.SHADOW)
    reg.register(policy_lineage("rl_sizer", 0.2), "sizer-1", actor="rl:daemon", reason=SIZER_WHY)
    reg.promote(SIZER, 1, actor="rl:daemon", reason="not yet beating fixed_fractional")
    meta = ModelMetadata("xgb", "1", "BTCUSDT", 4, ("ret_1",), {"eta": 0.1}, (0, 9), "d")
    reg.register(meta, "xgb-1", actor="cli:trainer", reason="trained")


def _runs(engine: Engine) -> None:
    sizer_pair = {"entries_sized": 25, "mean_fraction": 0.62, "verdict": "rl_sizer shadow: ok"}
    agents = {
        "decisions": SELECTOR_COUNTERS,
        "training": {"trainings": 3, "sizer_trainings": 1},
        "last_held_out": "held-out week: Sharpe +0.41",
        "shadow_pair": None,
        "decisions_logged": 429,
        "sizer_shadow_pair": sizer_pair,
    }
    qlearning = {
        "scope": QSCOPE,
        "this_run": {"decisions": 120, "updates": 30},
        "table": {"updates": 240, "trades_learnt": 60, "cells": 3, "epsilon": math.nan},
        "verdict": QLEARNING_REASON,
        "pair": None,
        "offpolicy": None,
    }
    rows = [
        ("r-old", T0, T0 + HOUR, "FINISHED", {"qlearning_shadow": qlearning, "rl_agents": agents}),
        ("r-mid", T0 + 2 * HOUR, T0 + 3 * HOUR, "FINISHED",
         {"rl_agents": {**agents, "decisions_logged": 77, "sizer_shadow_pair": None}}),
        ("r-new", T0 + 4 * HOUR, None, "RUNNING", {}),
    ]  # fmt: skip
    with engine.begin() as conn:
        for run_id, started, finished, status, summary in rows:
            conn.execute(
                insert(runs).values(
                    run_id=run_id, mode="paper", started_at=started, finished_at=finished,
                    status=status, summary_json=json.dumps(summary, sort_keys=True),
                )
            )  # fmt: skip


def seed_agents(engine: Engine) -> None:
    SqlStatusRepository(engine).save(
        [
            ModuleStatus("rl_meta_strategy", True, ModuleState.ACTIVE, "serving v2", "r-new",
                         counters=SELECTOR_COUNTERS),
            ModuleStatus("rl_v3_training", True, ModuleState.ACTIVE, "trains daily", "r-new",
                         counters={"trainings": 3}),
            ModuleStatus("rl_v2_qlearning", True, ModuleState.DEGRADED, QLEARNING_REASON, "r-new",
                         counters={"decisions": 120, "updates": 30}),
            ModuleStatus("risk_engine", True, ModuleState.ACTIVE, "ok", "r-new"),
        ],
        T0,
    )  # fmt: skip
    _registry(engine)
    SqlQTableRepository(engine).save(QTableSnapshot(QSCOPE, "space-v1", 240, 60, 900, T0, QCELLS))
    _runs(engine)
