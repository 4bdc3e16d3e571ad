"""The risk engine's state, its recent decisions and the kill switch."""

# no ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and their ``User`` dependency is local to the factory (one authenticator per app)

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from quantum_trader.adapters.sql.locked import DatabaseLocked
from quantum_trader.api import reads
from quantum_trader.api.answers import json_answer
from quantum_trader.api.context import API_PREFIX, AUTH_ERRORS, ApiContext
from quantum_trader.api.schemas import KillSwitchIn, KillSwitchOut, RiskDecisionOut, RiskOut
from quantum_trader.api.tokens import Token
from quantum_trader.observability.logging import get_logger

log = get_logger(__name__)

#: the actor of an API change in the audit trail (the CLI's is ``cli:<user>``)
ACTOR_PREFIX = "api:"


def risk_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix=f"{API_PREFIX}/risk", tags=["risk"], responses=AUTH_ERRORS)
    User = Annotated[Token, Depends(ctx.require_user)]

    @router.get("", response_model=RiskOut)
    async def risk_state(user: User, request: Request) -> Response:
        """Kill switch, last trading-state transition and latest risk mode."""

        def body() -> bytes:
            return reads.risk(ctx.engine, ctx.clock).model_dump_json().encode()

        # kept until the database changes (api/answers.py): a switch set here or by the CLI
        # shows on the next request
        return json_answer(await ctx.answers.answer("risk", body), request)

    @router.get("/decisions")
    def decisions(
        user: User, limit: Annotated[int, Query(ge=1, le=1000)] = 20
    ) -> list[RiskDecisionOut]:
        """The newest risk decisions with their reasons."""
        return reads.risk_decisions(ctx.engine, limit)

    @router.get("/kill-switch")
    def kill_switch(user: User) -> KillSwitchOut:
        return reads.kill_switch(ctx.engine, ctx.clock)

    @router.post(
        "/kill-switch",
        responses={503: {"description": "the database stayed locked: the switch is NOT changed"}},
    )
    def set_kill_switch(body: KillSwitchIn, user: User) -> KillSwitchOut:
        """Engage (``on``) or release the kill switch, audited as ``api:<user>``; a running
        engine reads it before its next decision."""
        actor = f"{ACTOR_PREFIX}{user.username}"
        try:  # waits up to a minute for a database another process is writing
            reads.set_kill_switch(ctx.engine, ctx.clock, body.on, body.reason, actor)
        except DatabaseLocked as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
        log.warning("api.kill_switch", on=body.on, by=actor, reason=body.reason)
        return reads.kill_switch(ctx.engine, ctx.clock)

    return router
