"""The application factory: routers under ``/api/v1``, ``/metrics``, the OpenAPI document."""

# no ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and their ``User`` dependency is local to the factory (one authenticator per app)

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine

from quantum_trader.adapters.sql.data_version import data_version_reader
from quantum_trader.api.answers import AnswerCache
from quantum_trader.api.auth import RequireUser
from quantum_trader.api.backtest_jobs import BacktestJobs
from quantum_trader.api.candles import CandleReader
from quantum_trader.api.config import ApiConfig
from quantum_trader.api.context import API_PREFIX, AUTH_ERRORS, ApiContext, Liveness
from quantum_trader.api.dashboard import dashboard_routes
from quantum_trader.api.metrics import ApiMetrics, MetricsMiddleware
from quantum_trader.api.rate_limit import LoginRateLimiter
from quantum_trader.api.routes_agents import agents_router
from quantum_trader.api.routes_backtests import backtests_router
from quantum_trader.api.routes_events import events_router
from quantum_trader.api.routes_learning import learning_router
from quantum_trader.api.routes_market import market_router
from quantum_trader.api.routes_models import models_router
from quantum_trader.api.routes_portfolio import portfolio_router
from quantum_trader.api.routes_public import public_router
from quantum_trader.api.routes_read import read_router
from quantum_trader.api.routes_risk import risk_router
from quantum_trader.api.routes_trace import trace_router
from quantum_trader.api.tokens import Token, TokenIssuer
from quantum_trader.clock.clock import Clock, WallClock


def create_app(
    config: ApiConfig,
    engine: Engine,
    clock: Clock | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    liveness: Callable[[], Liveness] | None = None,
    candles: CandleReader | None = None,
    backtests: BacktestJobs | None = None,
) -> FastAPI:
    """The API over ``engine``'s database. ``settings``: the effective settings, already
    redacted (``config.redaction.redacted``), for ``/config``; ``liveness``: what ``status``
    says about the engine (``app/run_lock.engine_liveness``); ``candles``: the candle store's
    reader for ``/candles`` and ``/benchmark``; ``backtests``: the job runner for
    ``/backtests`` (either None: those routes answer 404)."""
    clock = clock or WallClock()
    issuer = TokenIssuer(config.secret, config.token_minutes, clock)
    metrics = ApiMetrics(engine, clock)
    ctx = ApiContext(
        config=config,
        engine=engine,
        clock=clock,
        issuer=issuer,
        limiter=LoginRateLimiter(config.login_attempts_per_minute, clock),
        require_user=RequireUser(issuer),
        metrics=metrics,
        settings=json.loads(json.dumps(dict(settings or {}), default=str)),
        liveness=liveness,
        answers=AnswerCache(data_version_reader(engine)),
        candles=candles,
        backtests=backtests,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.answers.close()  # the database version's own connection

    app = FastAPI(
        title="Quantum Trader",
        version="1",
        description="The operator's API (docs/api.md).",
        # the document is served below, behind authentication like every route but ping and
        # health; no Swagger UI: it loads its scripts from a CDN, and this runs offline
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    routers = (
        public_router(ctx),
        risk_router(ctx),
        read_router(ctx),
        portfolio_router(ctx),
        models_router(ctx),
        events_router(ctx),
        trace_router(ctx),
        market_router(ctx),
        backtests_router(ctx),
        learning_router(ctx),
        agents_router(ctx),
    )
    for router in routers:
        # one flat route table, each route with its full path: this FastAPI keeps an included
        # router's routes relative to it (``_IncludedRouter``), and the metrics label requests
        # by the full template and the tests generate cases from the table
        app.router.routes.extend(router.routes)
    # the dashboard's pages and static files (no data; not in the OpenAPI document)
    app.router.routes.extend(dashboard_routes(ctx))

    @app.get(
        "/metrics",
        tags=["metrics"],
        response_class=Response,
        responses={
            **AUTH_ERRORS,
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        },
    )
    def prometheus(user: Annotated[Token, Depends(ctx.require_user)]) -> Response:
        """Prometheus text: requests, errors and latency per route; module evidence; the
        engine's orders, fills, risk verdicts, equity, drawdown, exposure, model versions."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get(f"{API_PREFIX}/openapi.json", include_in_schema=False)
    def openapi(user: Annotated[Token, Depends(ctx.require_user)]) -> JSONResponse:
        return JSONResponse(app.openapi())

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.answers = ctx.answers  # the kept answers, for a look from outside (the tests)
    return app
