"""Read-only routes: module status, trades and orders, models, experiments, trials, config."""

# no ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and their ``User`` dependency is local to the factory (one authenticator per app)

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from quantum_trader.api import reads
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
from quantum_trader.api.tokens import Token

Limit = Annotated[int, Query(ge=1, le=1000)]


def read_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["read"], responses=AUTH_ERRORS)
    User = Annotated[Token, Depends(ctx.require_user)]

    @router.get("/status")
    def module_status(user: User) -> StatusOut:
        """Whether an engine runs, every module's state, reason and evidence with the process
        that reports it, and the processes serving the database (UP, DOWN or STOPPED)."""
        if ctx.liveness is None:
            engine = LivenessOut(line="engine liveness not wired", alive=False, died=False)
        else:
            live = ctx.liveness()
            engine = LivenessOut(line=live.line, alive=live.alive, died=live.died)
        modules, processes = reads.modules_and_processes(ctx.engine)
        return StatusOut(engine=engine, modules=modules, processes=processes)

    @router.get("/trades")
    def trades(user: User, limit: Limit = 100) -> RunRecordsOut:
        """The last run's newest closed trades."""
        records = reads.last_run_records(ctx.engine, ctx.clock, limit)
        return RunRecordsOut(run_id=records.run_id, trades=records.trades)

    @router.get("/orders")
    def orders(user: User, limit: Limit = 100) -> RunRecordsOut:
        """The last run's newest orders."""
        records = reads.last_run_records(ctx.engine, ctx.clock, limit)
        return RunRecordsOut(run_id=records.run_id, orders=records.orders)

    @router.get("/models")
    def models(user: User) -> list[ModelVersionOut]:
        """Every registered model version and its stage."""
        return reads.model_versions(ctx.engine)

    @router.get("/experiments")
    def experiments(user: User) -> list[ExperimentOut]:
        found = (
            reads.experiment(ctx.engine, n, detail=False)
            for n in reads.experiment_names(ctx.engine)
        )
        return [e for e in found if e is not None]

    @router.get(
        "/experiments/{name}",
        responses={404: {"model": ErrorOut, "description": "no such experiment"}},
    )
    def experiment(user: User, name: Annotated[str, Path(max_length=100)]) -> ExperimentDetailOut:
        found = reads.experiment(ctx.engine, name, detail=True)
        if not isinstance(found, ExperimentDetailOut):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no experiment {name!r}")
        return found

    @router.get("/trials")
    def trials(user: User, limit: Limit = 50) -> list[TrialOut]:
        """The trial ledger, newest first."""
        return reads.trials(ctx.engine, limit)

    @router.get("/config")
    def config(user: User) -> ConfigOut:
        """The effective settings, secrets redacted."""
        return ConfigOut(settings=dict(ctx.settings))

    return router
