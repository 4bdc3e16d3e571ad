"""What the learning route reads: the registry's challengers and the rules' verdicts, and the
last run's learning daemon as it saved itself (``learning/daemon.py``, ``to_state``).

Nothing here is kept in memory by the API: a running engine writes all three (registry rows
as they change, the daemon's document after every check that changed it), so the route shows
what the engine decided up to its last save. The shadow evaluator's running figures (matured
labels, intervals) are not stored; a verdict's reason carries them once the rule has decided.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine

from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.run_lock import SqlRunLock
from quantum_trader.api.reads_models import change_out
from quantum_trader.api.schemas_learning import (
    ChallengerOut,
    LearningOut,
    LineLearningOut,
    TriggerOut,
    VerdictOut,
)
from quantum_trader.clock.clock import Clock
from quantum_trader.learning.registry import Stage, StageChange
from quantum_trader.learning.triggers import Trigger

#: the stages in which a version is judged against production
JUDGED = (Stage.SHADOW, Stage.CANARY)


def learning(engine: Engine, clock: Clock, limit: int) -> LearningOut:
    repo = SqlRegistryRepository(engine)
    challengers = []
    for version in repo.versions():
        if version.stage not in JUDGED:
            continue
        changes = repo.history(version.key)
        mine = [c for c in changes if c.version == version.version]
        entered = next((c for c in reversed(mine) if c.to_stage is version.stage), None)
        registered = next((c for c in mine if c.from_stage is None), None)
        challengers.append(
            ChallengerOut(
                key=str(version.key),
                version=version.version,
                stage=version.stage.value,
                since=version.created_at if entered is None else entered.at,
                actor="" if entered is None else entered.actor,
                reason="" if entered is None else entered.reason,
                registered_reason="" if registered is None else registered.reason,
            )
        )
    last = SqlRunLock(engine, clock.now).last_run()
    lines = [] if last is None else daemon_lines(engine, f"learning/{last.run_id}")
    return LearningOut(
        run_id=None if last is None else last.run_id,
        challengers=challengers,
        lines=lines,
        verdicts=[_verdict(c) for c in repo.recent_changes(limit, actor_prefix="rule:")],
    )


def daemon_lines(engine: Engine, key: str) -> list[LineLearningOut]:
    """The learning daemon's saved document under ``key``, one entry per line it serves."""
    text = SqlIntelligenceStateRepository(engine).load(key)
    if text is None:
        return []
    state: dict[str, Any] = json.loads(text)
    return [
        LineLearningOut(
            line=line,
            last_trained=saved.get("last_trained"),
            in_flight=None if saved.get("in_flight") is None else _trigger(saved["in_flight"]),
            waiting=[_trigger(row) for row in saved.get("waiting", [])],
        )
        for line, saved in sorted(state.items())
    ]


def _trigger(row: list[Any]) -> TriggerOut:
    t = Trigger.from_row(row)
    return TriggerOut(kind=t.kind.value, model=t.model, symbol=t.symbol, at=t.at, detail=t.detail)


def _verdict(change: StageChange) -> VerdictOut:
    return VerdictOut(key=str(change.key), **change_out(change).model_dump())
