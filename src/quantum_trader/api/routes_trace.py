"""The decision trace behind a closed trade, for the dashboard's trades page."""

# no ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and their ``User`` dependency is local to the factory (one authenticator per app)

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status

from quantum_trader.api import reads_trace
from quantum_trader.api.context import API_PREFIX, AUTH_ERRORS, ApiContext
from quantum_trader.api.schemas import ErrorOut
from quantum_trader.api.schemas_trace import TradeTraceOut
from quantum_trader.api.tokens import Token


def trace_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["read"], responses=AUTH_ERRORS)
    User = Annotated[Token, Depends(ctx.require_user)]

    @router.get(
        "/trades/{trade_id}/trace",
        responses={404: {"model": ErrorOut, "description": "no such trade"}},
    )
    def trade_trace(
        user: User, trade_id: Annotated[str, Path(min_length=1, max_length=128)]
    ) -> TradeTraceOut:
        """What decided a trade: its decision reference (strategy, selector, sizer, members and
        their versions, regime), the orders that opened and closed it, and the risk engine's
        verdicts on that decision (outcome, reasons, sizes, trading state, risk mode)."""
        found = reads_trace.trade_trace(ctx.engine, trade_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no trade {trade_id!r}")
        return found

    return router
