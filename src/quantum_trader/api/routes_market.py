"""Stored candles and buy-and-hold over the last run, read from the candle store."""

# no ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and their ``User`` dependency is local to the factory (one authenticator per app)

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from quantum_trader.api import candles as market
from quantum_trader.api.candles import CandleReader
from quantum_trader.api.context import API_PREFIX, AUTH_ERRORS, ApiContext
from quantum_trader.api.routes_portfolio import EQUITY_POINTS, MAX_EQUITY_POINTS
from quantum_trader.api.schemas import ErrorOut
from quantum_trader.api.schemas_market import BenchmarkOut, CandlesOut
from quantum_trader.api.tokens import Token

#: a page draws at most this many candles (about 7 months of 1h bars)
MAX_CANDLES = 5000
SYMBOL = r"^[A-Z0-9]{2,30}$"
TIMEFRAME = r"^[0-9]{1,3}[mhdw]$"
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no candle store, or no such series"}
}


def market_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["market"], responses={**AUTH_ERRORS, **NOT_FOUND})
    User = Annotated[Token, Depends(ctx.require_user)]
    Timeframe = Annotated[str, Query(pattern=TIMEFRAME, description="e.g. 1h, 15m")]

    def reader() -> CandleReader:
        if ctx.candles is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no candle store configured")
        return ctx.candles

    @router.get("/candles")
    def candles(
        user: User,
        symbol: Annotated[str, Query(pattern=SYMBOL)],
        timeframe: Timeframe = "1h",
        limit: Annotated[int, Query(ge=1, le=MAX_CANDLES)] = 1000,
        start: Annotated[int | None, Query(ge=0, description="first open time, ms")] = None,
        end: Annotated[int | None, Query(ge=0, description="open times before it, ms")] = None,
    ) -> CandlesOut:
        """The newest ``limit`` stored candles of a symbol with ``start <= open_time < end``,
        oldest first; 404 for a symbol the store does not hold."""
        try:
            return market.candles(reader(), symbol, timeframe, limit, start, end)
        except market.UnknownSeries as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None

    @router.get("/benchmark")
    def benchmark(
        user: User,
        timeframe: Timeframe = "1h",
        limit: Annotated[int, Query(ge=2, le=MAX_EQUITY_POINTS)] = EQUITY_POINTS,
    ) -> BenchmarkOut:
        """Buy-and-hold over the last run's span (equal weights over the run's symbols, scaled
        to its first equity point), at the equity curve's points, thinned like ``/equity``."""
        return market.benchmark(ctx.engine, ctx.clock, reader(), timeframe, limit)

    return router
