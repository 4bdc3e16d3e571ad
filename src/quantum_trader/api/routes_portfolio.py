"""The last run's book: open positions, fills, and the equity curve with its drawdown."""

# no ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and their ``User`` dependency is local to the factory (one authenticator per app)

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from quantum_trader.api import reads_portfolio
from quantum_trader.api.context import API_PREFIX, AUTH_ERRORS, ApiContext
from quantum_trader.api.schemas_portfolio import EquityOut, FillsOut, PositionsOut
from quantum_trader.api.tokens import Token

#: a 2-year hourly run stores 17,520 equity points: the default answers with every 9th
EQUITY_POINTS = 2000
MAX_EQUITY_POINTS = 20_000


def portfolio_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["portfolio"], responses=AUTH_ERRORS)
    User = Annotated[Token, Depends(ctx.require_user)]

    @router.get("/positions")
    def positions(user: User) -> PositionsOut:
        """The last run's open positions at its latest checkpoint: size, entry, mark,
        unrealised PnL, leverage, margin and liquidation price, as the engine's book holds
        them."""
        return reads_portfolio.positions(ctx.engine, ctx.clock)

    @router.get("/fills")
    def fills(user: User, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> FillsOut:
        """The last run's newest fills."""
        return reads_portfolio.fills(ctx.engine, ctx.clock, limit)

    @router.get("/equity")
    def equity(
        user: User,
        limit: Annotated[
            int,
            Query(
                ge=2,
                le=MAX_EQUITY_POINTS,
                description="the most points answered: every k-th stored point and the last",
            ),
        ] = EQUITY_POINTS,
    ) -> EquityOut:
        """The last run's equity curve: per point the equity, the wallet balance, the running
        peak and the drawdown from it (over every stored point), thinned to ``limit``."""
        return reads_portfolio.equity(ctx.engine, ctx.clock, limit)

    return router
