"""The last run's book: open positions, fills, and the equity curve with its drawdown."""

# no ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and their ``User`` dependency is local to the factory (one authenticator per app)

from collections.abc import Hashable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from quantum_trader.api import reads_portfolio
from quantum_trader.api.answers import json_answer
from quantum_trader.api.context import API_PREFIX, AUTH_ERRORS, ApiContext
from quantum_trader.api.schemas_portfolio import EquityOut, FillsOut, PositionsOut
from quantum_trader.api.stamps import last_run_stamp
from quantum_trader.api.tokens import Token

#: a 2-year hourly run stores 17,520 equity points: the default answers with every 9th
EQUITY_POINTS = 2000
MAX_EQUITY_POINTS = 20_000


def portfolio_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["portfolio"], responses=AUTH_ERRORS)
    User = Annotated[Token, Depends(ctx.require_user)]

    def run_stamp() -> Hashable:
        return last_run_stamp(ctx.engine, ctx.clock)

    @router.get("/positions", response_model=PositionsOut)
    async def positions(user: User, request: Request) -> Response:
        """The last run's open positions at its latest checkpoint: size, entry, mark,
        unrealised PnL, leverage, margin and liquidation price, as the engine's book holds
        them."""

        def body() -> bytes:
            return reads_portfolio.positions(ctx.engine, ctx.clock).model_dump_json().encode()

        return json_answer(await ctx.answers.answer("positions", body, stamp=run_stamp), request)

    @router.get("/fills", response_model=FillsOut)
    async def fills(
        user: User, request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> Response:
        """The last run's newest fills."""

        def body() -> bytes:
            return reads_portfolio.fills(ctx.engine, ctx.clock, limit).model_dump_json().encode()

        return json_answer(
            await ctx.answers.answer(f"fills:{limit}", body, stamp=run_stamp), request
        )

    @router.get("/equity", response_model=EquityOut)
    async def equity(
        user: User,
        request: Request,
        limit: Annotated[
            int,
            Query(
                ge=2,
                le=MAX_EQUITY_POINTS,
                description="the most points answered: every k-th stored point and the last",
            ),
        ] = EQUITY_POINTS,
    ) -> Response:
        """The last run's equity curve: per point the equity, the wallet balance, the running
        peak and the drawdown from it (over every stored point), thinned to ``limit``."""

        def body() -> bytes:
            return reads_portfolio.equity(ctx.engine, ctx.clock, limit).model_dump_json().encode()

        return json_answer(
            await ctx.answers.answer(f"equity:{limit}", body, stamp=run_stamp), request
        )

    return router
