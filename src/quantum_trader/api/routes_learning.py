"""Continuous learning as the engine left it: shadows and canaries, triggers, verdicts."""

# no ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and their ``User`` dependency is local to the factory (one authenticator per app)

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from quantum_trader.api import reads_learning
from quantum_trader.api.context import API_PREFIX, AUTH_ERRORS, ApiContext
from quantum_trader.api.schemas_learning import LearningOut
from quantum_trader.api.tokens import Token


def learning_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["learning"], responses=AUTH_ERRORS)
    User = Annotated[Token, Depends(ctx.require_user)]

    @router.get("/learning")
    def learning(
        user: User,
        limit: Annotated[int, Query(ge=1, le=1000, description="verdicts to return")] = 50,
    ) -> LearningOut:
        """The versions judged now against production (SHADOW, CANARY) with why they were
        trained and moved there; each line's last training, the training in flight and the
        triggers waiting, as the last run's learning daemon saved them; and the rules' newest
        verdicts (promotions, retirements, rollbacks) with their evidence."""
        return reads_learning.learning(ctx.engine, ctx.clock, limit)

    return router
