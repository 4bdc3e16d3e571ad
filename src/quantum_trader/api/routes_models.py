"""The model registry: a line's history, promote and rollback, and the agents' policies.

A model line is ``MODEL/SCOPE/hHORIZON`` (``learning/registry.ModelKey``, e.g.
``xgb/BTCUSDT/h4``): the model's name is the path's ``{name}``, its scope (a symbol or
``global``) and horizon are the ``scope`` and ``horizon`` query parameters. Promote and
rollback change stages through the registry, audited as ``api:<user>`` like the kill switch;
a cookie session needs the CSRF header for them (``auth.RequireUser``).
"""

# no ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and their ``User`` dependency is local to the factory (one authenticator per app)

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from quantum_trader.api import reads_models
from quantum_trader.api.context import API_PREFIX, AUTH_ERRORS, ApiContext
from quantum_trader.api.routes_risk import ACTOR_PREFIX
from quantum_trader.api.schemas import ErrorOut, ModelVersionOut
from quantum_trader.api.schemas_models import (
    ModelHistoryOut,
    PolicyVersionOut,
    PromoteIn,
    RollbackIn,
)
from quantum_trader.api.tokens import Token
from quantum_trader.domain.errors import InvalidTransitionError
from quantum_trader.learning.registry import ModelKey
from quantum_trader.observability.logging import get_logger

log = get_logger(__name__)

#: the registry's columns: model and scope String(64); a horizon is a count of candles
Name = Annotated[str, Path(max_length=64, description="the model's name, e.g. xgb")]
Scope = Annotated[
    str, Query(min_length=1, max_length=64, description="a symbol, e.g. BTCUSDT, or global")
]
Horizon = Annotated[int, Query(ge=0, le=100_000, description="candles ahead; 0 for a policy")]

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such model line or version"}
}
REFUSED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "the registry refuses the stage change"}
}


def models_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["models"], responses=AUTH_ERRORS)
    User = Annotated[Token, Depends(ctx.require_user)]

    @router.get("/models/{name}/history", responses=NOT_FOUND)
    def history(user: User, name: Name, scope: Scope, horizon: Horizon) -> ModelHistoryOut:
        """A line's versions, its production version and its audit trail (every registration
        and stage change, oldest first, with engine and wall-clock times, who and why)."""
        key = ModelKey(name, scope, horizon)
        with _answers():
            return reads_models.history(ctx.engine, ctx.clock, key)

    @router.post("/models/{name}/promote", responses={**NOT_FOUND, **REFUSED})
    def promote(
        body: PromoteIn, user: User, name: Name, scope: Scope, horizon: Horizon
    ) -> ModelVersionOut:
        """Move a version forward (CANDIDATE → SHADOW → CANARY → PRODUCTION, or to ``to``;
        RETIRED from any stage), audited as ``api:<user>``. Entering PRODUCTION retires the
        version it replaces; a running engine follows the change."""
        key = ModelKey(name, scope, horizon)
        actor = f"{ACTOR_PREFIX}{user.username}"
        with _answers():
            moved = reads_models.promote(
                ctx.engine,
                ctx.clock,
                key,
                body.version,
                to=body.to,
                actor=actor,
                reason=body.reason,
            )
        log.warning(
            "api.model_promote",
            key=str(key),
            version=moved.version,
            stage=moved.stage,
            by=actor,
            reason=body.reason,
        )
        return moved

    @router.post("/models/{name}/rollback", responses={**NOT_FOUND, **REFUSED})
    def rollback(
        body: RollbackIn, user: User, name: Name, scope: Scope, horizon: Horizon
    ) -> ModelVersionOut:
        """Retire the line's production version and restore the one in production before it
        (the version answered), audited as ``api:<user>``."""
        key = ModelKey(name, scope, horizon)
        actor = f"{ACTOR_PREFIX}{user.username}"
        with _answers():
            restored = reads_models.rollback(
                ctx.engine, ctx.clock, key, actor=actor, reason=body.reason
            )
        log.warning(
            "api.model_rollback",
            key=str(key),
            version=restored.version,
            by=actor,
            reason=body.reason,
        )
        return restored

    @router.get("/policies")
    def policies(
        user: User, limit: Annotated[int, Query(ge=1, le=1000)] = 50
    ) -> list[PolicyVersionOut]:
        """The agents' policy versions in the registry, newest first, with stage, production
        flag, algorithm and held-out metrics."""
        return reads_models.policies(ctx.engine, limit)

    return router


@contextmanager
def _answers() -> Iterator[None]:
    """Turns the registry's refusals into answers: an unknown line or version is 404, a
    transition it does not allow 409, each with the registry's own message."""
    try:
        yield
    except reads_models.UnknownLine as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except InvalidTransitionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
