"""What the agents route reads: each learning agent's modules, policy lines, Q-table and the
figures of the newest run that reported it, all from the database a running engine writes.

The agents (``docs/agents.md``, ``docs/qlearning.md``):

* the **PPO strategy selector**, module 13 ``rl_meta_strategy`` (``app/rl_agents.py``), and
  its training daemon, module 16 ``rl_v3_training`` (``rl/daemon.py``): registry line
  ``ppo_selector/<scope>/h0``, run summary part ``rl_agents``;
* the **Q-learning challenger**, module 14 ``rl_v2_qlearning`` (``app/qlearning_shadow.py``):
  no registry line; its tables in ``rl_qtables`` (``adapters/sql/tables_agents.py``), run
  summary part ``qlearning_shadow``;
* **RL position sizing**, module 15 ``rl_position_sizing`` (``app/rl_sizing.py``), trained by
  module 16's daemon (its counters there start with ``sizer_``): registry line
  ``rl_sizer/<scope>/h0``, run summary part ``rl_agents.sizer_shadow_pair``.

The names are written out here because the API may not import the composition root that
defines some of them (``app/rl_serving.py``); ``tests/api/test_agents.py`` checks them against
their definitions. Nothing is kept in memory: the route shows what the engine saved last.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.tables import runs
from quantum_trader.adapters.sql.tables_agents import rl_qtable_cells, rl_qtables
from quantum_trader.adapters.sql.tables_registry import model_versions
from quantum_trader.agents.qstate import QState
from quantum_trader.api.reads_models import change_out
from quantum_trader.api.schemas_agents import (
    AgentModuleOut,
    AgentOut,
    AgentsOut,
    AgentVersionOut,
    Figure,
    PolicyLineOut,
    QActionOut,
    QStateOut,
    QTableOut,
    RunFiguresOut,
)
from quantum_trader.learning.registry import ModelKey, ModelVersion, Stage, StageChange
from quantum_trader.status.registry import ModuleStatus

#: the newest runs whose summary mentions an agent's part that are read to find it filled
RUNS_SCANNED = 20


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """Where the database keeps one agent's parts."""

    agent: str
    title: str
    description: str
    modules: tuple[tuple[str, int], ...]  # (status name, module number)
    policy_name: str | None  # its registry lines' model name
    qtable: bool  # whether it keeps Q-tables (rl_qtables)
    part: tuple[str, ...]  # the path of its part in a run's summary
    leave_out: tuple[str, ...] = ()  # keys of that part another agent shows


AGENTS = (
    AgentSpec(
        "ppo_selector",
        "PPO strategy selector",
        "Chooses the strategy per candle with the ppo_selector line's PRODUCTION policy (the "
        "configured selector decides while there is none); its daemon trains new policies "
        "and judges each on held-out candles and in a shadow account.",
        (("rl_meta_strategy", 13), ("rl_v3_training", 16)),
        "ppo_selector",
        False,
        ("rl_agents",),
        ("sizer_shadow_pair",),
    ),
    AgentSpec(
        "qlearning",
        "Q-learning challenger",
        "A tabular Q-learning strategy selector choosing for a shadow account paired with a "
        "twin on production's selector; its table is kept per market across runs.",
        (("rl_v2_qlearning", 14),),
        None,
        True,
        ("qlearning_shadow",),
    ),
    AgentSpec(
        "rl_sizer",
        "RL position sizing",
        "Scales the configured sizer's size by a learned fraction with the rl_sizer line's "
        "PRODUCTION policy; trained by module 16's daemon (its counters start with sizer_).",
        (("rl_position_sizing", 15),),
        "rl_sizer",
        False,
        ("rl_agents", "sizer_shadow_pair"),
    ),
)


def agents(engine: Engine, versions: int, qstates: int = 200) -> AgentsOut:
    """Every agent of :data:`AGENTS`; ``versions``: the newest versions shown per line,
    ``qstates``: the most visited states shown per Q-table."""
    statuses = {s.name: s for s in SqlStatusRepository(engine).load_all()}
    tables = qtables(engine, qstates)
    return AgentsOut(
        agents=[
            AgentOut(
                agent=spec.agent,
                title=spec.title,
                description=spec.description,
                modules=[_module(statuses.get(name), name, n) for name, n in spec.modules],
                policy_name=spec.policy_name,
                lines=[]
                if spec.policy_name is None
                else policy_lines(engine, spec.policy_name, versions),
                qtables=tables if spec.qtable else None,
                last_run=last_run_figures(engine, spec.part, spec.leave_out),
            )
            for spec in AGENTS
        ]
    )


def _module(status: ModuleStatus | None, name: str, number: int) -> AgentModuleOut:
    if status is None:
        return AgentModuleOut(
            name=name, number=number, recorded=False, enabled=None, state=None, reason=None,
            run_id=None, last_activity=None, counters={},
        )  # fmt: skip
    return AgentModuleOut(
        name=name, number=number, recorded=True, enabled=status.enabled,
        state=status.state.value, reason=status.reason, run_id=status.run_id,
        last_activity=status.last_activity, counters=dict(status.counters),
    )  # fmt: skip


def policy_lines(engine: Engine, name: str, limit: int) -> list[PolicyLineOut]:
    """The registry lines of policy ``name`` (one per scope), each with its newest ``limit``
    versions and their whole audit trail."""
    t = model_versions
    stmt = (
        select(t.c.scope, t.c.horizon)
        .where(t.c.model == name)
        .group_by(t.c.scope, t.c.horizon)
        .order_by(t.c.scope, t.c.horizon)
    )
    with engine.connect() as conn:
        keys = [ModelKey(name, str(scope), int(h)) for scope, h in conn.execute(stmt)]
    repo = SqlRegistryRepository(engine)
    out = []
    for key in keys:
        every = repo.versions(key)
        changes = repo.history(key)
        shadows = [v.version for v in every if v.stage is Stage.SHADOW]
        out.append(
            PolicyLineOut(
                key=str(key),
                production=repo.production_version(key),
                shadow=max(shadows) if shadows else None,
                versions_total=len(every),
                versions=[
                    _version(v, [c for c in changes if c.version == v.version])
                    for v in every[-limit:]
                ],
            )
        )
    return out


def _version(v: ModelVersion, changes: list[StageChange]) -> AgentVersionOut:
    registered = next((c for c in changes if c.from_stage is None), None)
    algorithm = v.lineage.detail.get("algorithm")
    return AgentVersionOut(
        version=v.version,
        stage=v.stage.value,
        created_at=v.created_at,
        trained_at=v.lineage.trained_at,
        algorithm=None if algorithm is None else str(algorithm),
        why="" if registered is None else registered.reason,
        metrics={k: _finite(m) for k, m in v.lineage.metrics.items()},
        changes=[change_out(c) for c in changes],
    )


def qtables(engine: Engine, qstates: int = 200) -> list[QTableOut]:
    """The stored Q-tables: each one's header and its ``qstates`` most visited states.

    A table holds at most its state space's states × the strategies (135 × 4 with the
    defaults), so its cells are read whole and ranked here."""
    h, c = rl_qtables, rl_qtable_cells
    with engine.connect() as conn:
        rows = conn.execute(select(h).order_by(h.c.scope)).mappings().all()
        cells = conn.execute(
            select(c.c.scope, c.c.state, c.c.action, c.c.q, c.c.visits).order_by(
                c.c.scope, c.c.state, c.c.action
            )
        ).all()
    by_scope: dict[str, dict[str, dict[str, QActionOut]]] = {}
    for scope, state, action, q, visits in cells:
        actions = by_scope.setdefault(scope, {}).setdefault(state, {})
        actions[action] = QActionOut(q=float(q), visits=int(visits))
    out = []
    for r in rows:
        states = by_scope.get(r["scope"], {})
        ranked = sorted(
            (_qstate(key, actions) for key, actions in states.items()),
            key=lambda s: (-s.visits, s.state),
        )
        table = QTableOut(
            scope=r["scope"], state_space=r["state_space"], cells=int(r["cells"]),
            updates=int(r["updates"]), trades=int(r["trades"]), decisions=int(r["decisions"]),
            saved_at=int(r["saved_at"]),
            actions=sorted({a for actions in states.values() for a in actions}),
            states_total=len(states), states=ranked[:qstates],
        )  # fmt: skip
        out.append(table)
    return out


def _qstate(key: str, actions: dict[str, QActionOut]) -> QStateOut:
    """One state's stored cells, its key decoded where it is one (a table saved by another
    state space's code may hold keys this one cannot read: shown as stored, undecoded)."""
    visits = sum(a.visits for a in actions.values())
    try:
        s = QState.parse(key)
    except ValueError:
        return QStateOut(state=key, regime=None, vol=None, confidence=None, pnl=None,
                         visits=visits, actions=actions)  # fmt: skip
    return QStateOut(state=key, regime=s.regime, vol=s.vol, confidence=s.confidence, pnl=s.pnl,
                     visits=visits, actions=actions)  # fmt: skip


def last_run_figures(
    engine: Engine, part: tuple[str, ...], leave_out: tuple[str, ...] = ()
) -> RunFiguresOut | None:
    """The figures under ``part`` of the newest run whose summary holds it (a run still
    running has an empty summary until it stops), less the keys in ``leave_out``; None when
    none of the :data:`RUNS_SCANNED` newest runs that name the part holds it."""
    r = runs
    stmt = (
        select(r.c.run_id, r.c.status, r.c.started_at, r.c.finished_at, r.c.summary_json)
        .where(r.c.summary_json.contains(f'"{part[0]}"', autoescape=True))
        .order_by(r.c.started_at.desc())
        .limit(RUNS_SCANNED)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    for run_id, status, started_at, finished_at, text in rows:
        found: Any = json.loads(text)
        for key in part:
            found = found.get(key) if isinstance(found, Mapping) else None
        if isinstance(found, Mapping):
            kept = {k: v for k, v in found.items() if k not in leave_out}
            return RunFiguresOut(
                run_id=run_id,
                status=status,
                started_at=int(started_at),
                finished_at=None if finished_at is None else int(finished_at),
                part=".".join(part),
                figures=flatten(kept),
            )
    return None


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Figure]:
    """A summary part's figures with nested keys joined by dots; a list as its JSON text, a
    number JSON cannot carry (NaN, infinity) as None.

    >>> flatten({"table": {"cells": 4, "epsilon": 0.1}, "verdict": None, "x": [1, 2]})
    {'table.cells': 4, 'table.epsilon': 0.1, 'verdict': None, 'x': '[1, 2]'}
    """
    out: dict[str, Figure] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            out |= flatten(item, f"{name}.")
        elif isinstance(item, float):
            out[name] = _finite(item)
        elif item is None or isinstance(item, bool | int | str):
            out[name] = item
        else:
            out[name] = json.dumps(item, default=str)
    return out


def _finite(value: object) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None
