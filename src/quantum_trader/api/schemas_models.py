"""The bodies of the model-registry routes: a line's history, promote, rollback, the agents'
policies. Times are epoch milliseconds, UTC."""

from __future__ import annotations

from pydantic import BaseModel, Field

from quantum_trader.api.schemas import ModelVersionOut, Out
from quantum_trader.learning.registry import Stage


class StageChangeOut(Out):
    version: int
    from_stage: str | None  # None: the version's registration
    to_stage: str
    action: str
    at: int  # engine time (a replay's candle time)
    recorded_at: int | None  # wall-clock time it was stored (None in rows older than that)
    actor: str
    reason: str


class ModelHistoryOut(Out):
    key: str  # MODEL/SCOPE/hHORIZON
    production: int | None  # the version in PRODUCTION, if any
    versions: list[ModelVersionOut]
    changes: list[StageChangeOut]  # oldest first


class PromoteIn(BaseModel):
    version: int = Field(ge=1, le=1_000_000_000)
    #: the target stage; None: the next one (CANDIDATE → SHADOW → CANARY → PRODUCTION)
    to: Stage | None = None
    reason: str = Field(min_length=1, max_length=500)


class RollbackIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class PolicyVersionOut(Out):
    key: str  # NAME/SCOPE/h0
    name: str
    scope: str
    version: int
    stage: str
    production: bool
    algorithm: str | None  # e.g. "ppo", as its bundle's manifest says
    artifact_hash: str
    created_at: int
    trained_at: int | None
    metrics: dict[str, float | None]  # held-out evaluation (None: not a finite number)
