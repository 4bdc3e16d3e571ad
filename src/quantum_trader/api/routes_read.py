"""Read-only routes: module status, trades and orders, models, experiments, trials, config."""

# no ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and their ``User`` dependency is local to the factory (one authenticator per app)

from collections.abc import Hashable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from pydantic import TypeAdapter

from quantum_trader.api import reads
from quantum_trader.api.answers import json_answer
from quantum_trader.api.context import API_PREFIX, AUTH_ERRORS, ApiContext
from quantum_trader.api.schemas import (
    ConfigOut,
    ErrorOut,
    ExperimentDetailOut,
    ExperimentOut,
    LivenessOut,
    ModelVersionOut,
    RunRecordsOut,
    StatusOut,
    TrialOut,
)
from quantum_trader.api.stamps import experiment_stamps, last_run_stamp
from quantum_trader.api.tokens import Token
from quantum_trader.clock.clock import WallClock

Limit = Annotated[int, Query(ge=1, le=1000)]
EXPERIMENTS = TypeAdapter(list[ExperimentOut])


def read_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["read"], responses=AUTH_ERRORS)
    User = Annotated[Token, Depends(ctx.require_user)]
    answers = ctx.answers

    @router.get("/status", response_model=StatusOut)
    async def module_status(user: User, request: Request) -> Response:
        """Whether an engine runs, every module's state, reason and evidence with the process
        that reports it, and the processes serving the database (UP, DOWN or STOPPED)."""
        # kept until the database changes or the wall-clock second turns: a process is judged
        # UP or DOWN (and the engine alive) at most a second late
        second = WallClock().now() // 1000
        return json_answer(await answers.answer("status", status_body, tag=second), request)

    def status_body() -> bytes:
        if ctx.liveness is None:
            engine = LivenessOut(line="engine liveness not wired", alive=False, died=False)
        else:
            live = ctx.liveness()
            engine = LivenessOut(line=live.line, alive=live.alive, died=live.died)
        modules, processes = reads.modules_and_processes(ctx.engine)
        return (
            StatusOut(engine=engine, modules=modules, processes=processes)
            .model_dump_json()
            .encode()
        )

    def run_stamp() -> Hashable:
        return last_run_stamp(ctx.engine, ctx.clock)

    @router.get("/trades", response_model=RunRecordsOut)
    async def trades(user: User, request: Request, limit: Limit = 100) -> Response:
        """The last run's newest closed trades."""

        def body() -> bytes:
            return reads.last_run_trades(ctx.engine, ctx.clock, limit).model_dump_json().encode()

        return json_answer(await answers.answer(f"trades:{limit}", body, stamp=run_stamp), request)

    @router.get("/orders", response_model=RunRecordsOut)
    async def orders(user: User, request: Request, limit: Limit = 100) -> Response:
        """The last run's newest orders."""

        def body() -> bytes:
            return reads.last_run_orders(ctx.engine, ctx.clock, limit).model_dump_json().encode()

        return json_answer(await answers.answer(f"orders:{limit}", body, stamp=run_stamp), request)

    @router.get("/models")
    def models(user: User) -> list[ModelVersionOut]:
        """Every registered model version and its stage."""
        return reads.model_versions(ctx.engine)

    listed = reads.ExperimentList(ctx.engine)

    @router.get("/experiments", response_model=list[ExperimentOut])
    async def experiments(user: User, request: Request) -> Response:
        def body() -> bytes:
            return EXPERIMENTS.dump_json(listed(experiment_stamps(ctx.engine)))

        def stamp() -> Hashable:
            return tuple(experiment_stamps(ctx.engine).items())

        return json_answer(await answers.answer("experiments", body, stamp=stamp), request)

    @router.get(
        "/experiments/{name}",
        response_model=ExperimentDetailOut,
        responses={404: {"model": ErrorOut, "description": "no such experiment"}},
    )
    async def experiment(
        user: User, request: Request, name: Annotated[str, Path(max_length=100)]
    ) -> Response:
        def body() -> bytes:
            found = reads.experiment(ctx.engine, name, detail=True)
            if not isinstance(found, ExperimentDetailOut):
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no experiment {name!r}")
            return found.model_dump_json().encode()

        def stamp() -> Hashable:
            return tuple(experiment_stamps(ctx.engine, name).items())

        return json_answer(await answers.answer(f"experiment:{name}", body, stamp=stamp), request)

    @router.get("/trials")
    def trials(user: User, limit: Limit = 50) -> list[TrialOut]:
        """The trial ledger, newest first."""
        return reads.trials(ctx.engine, limit)

    @router.get("/config")
    def config(user: User) -> ConfigOut:
        """The effective settings, secrets redacted."""
        return ConfigOut(settings=dict(ctx.settings))

    return router
