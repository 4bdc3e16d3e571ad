"""The learning agents as the engine left them: modules, policy versions, Q-tables, last run."""

# no ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and their ``User`` dependency is local to the factory (one authenticator per app)

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from quantum_trader.api import reads_agents
from quantum_trader.api.context import API_PREFIX, AUTH_ERRORS, ApiContext
from quantum_trader.api.schemas_agents import AgentsOut
from quantum_trader.api.tokens import Token


def agents_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["agents"], responses=AUTH_ERRORS)
    User = Annotated[Token, Depends(ctx.require_user)]

    @router.get("/agents")
    def agents(
        user: User,
        versions: Annotated[
            int, Query(ge=1, le=1000, description="the newest versions shown per policy line")
        ] = 50,
        qstates: Annotated[
            int, Query(ge=0, le=10_000, description="the most visited states shown per Q-table")
        ] = 200,
    ) -> AgentsOut:
        """Each learning agent (the PPO strategy selector with its training daemon, the
        Q-learning challenger, RL position sizing): its modules' state and evidence counters,
        its policy lines' versions with their stage, reasons and stage changes and the versions
        serving in production and in the shadow now, the Q-learner's stored tables (headers and
        their most visited states, each action's value and visits), and the figures of the
        newest run whose summary reports it. What the database does not hold is
        ``recorded: false`` or null, never filled in."""
        return reads_agents.agents(ctx.engine, versions, qstates)

    return router
