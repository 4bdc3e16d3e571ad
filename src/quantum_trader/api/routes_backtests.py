"""Backtests as background jobs: start one, follow it, fetch its report (docs/api.md)."""

# no ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and their ``User`` dependency is local to the factory (one authenticator per app)

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, status
from fastapi.responses import FileResponse

from quantum_trader.api.backtest_jobs import BacktestJob, BacktestJobs, BacktestRequest, JobConflict
from quantum_trader.api.context import API_PREFIX, AUTH_ERRORS, ApiContext
from quantum_trader.api.schemas import ErrorOut
from quantum_trader.api.schemas_backtests import BacktestIn, BacktestJobOut
from quantum_trader.api.tokens import Token
from quantum_trader.observability.logging import get_logger

log = get_logger(__name__)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no job runner, or no such job"}
}


def job_out(job: BacktestJob) -> BacktestJobOut:
    r = job.request
    sma = r.strategy == "sma_cross"
    return BacktestJobOut(
        job_id=job.job_id, state=job.state, strategy=r.strategy, symbols=list(r.symbols),
        timeframe=r.timeframe, start=r.start, end=r.end, fast=r.fast if sma else None,
        slow=r.slow if sma else None, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at, progress=job.progress,
        reason=job.reason, metrics=dict(job.metrics),
        report=f"{API_PREFIX}/backtests/{job.job_id}/report" if job.state == "finished" else None,
    )  # fmt: skip


def backtests_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(
        prefix=f"{API_PREFIX}/backtests", tags=["backtests"], responses={**AUTH_ERRORS, **NOT_FOUND}
    )
    User = Annotated[Token, Depends(ctx.require_user)]
    JobId = Annotated[int, Path(ge=1, le=2**31)]

    def runner() -> BacktestJobs:
        if ctx.backtests is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no backtest runner configured")
        return ctx.backtests

    def job(job_id: int) -> BacktestJob:
        found = runner().get(job_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no backtest job {job_id}")
        return found

    @router.post(
        "",
        status_code=status.HTTP_202_ACCEPTED,
        responses={409: {"model": ErrorOut, "description": "a job is already running"}},
    )
    def start(body: BacktestIn, user: User) -> BacktestJobOut:
        """Start a backtest (``sma_cross``, or ``ai``: the full decision path) in a child
        process (one at a time: 409 while another runs); follow it with
        ``GET /backtests/{job_id}``."""
        request = BacktestRequest(
            tuple(body.symbols), body.timeframe, body.start, body.end, body.fast, body.slow,
            body.strategy,
        )  # fmt: skip
        try:
            started = runner().start(request)
        except JobConflict as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
        log.info(
            "api.backtest_started", job=started.job_id, strategy=request.strategy, by=user.username
        )
        return job_out(started)

    @router.get("")
    def jobs(user: User) -> list[BacktestJobOut]:
        """Every job, newest first, with its state and progress."""
        return [job_out(j) for j in runner().jobs()]

    @router.get("/{job_id}")
    def one(job_id: JobId, user: User) -> BacktestJobOut:
        """A job's state, progress, and metrics once finished (the reason once failed)."""
        return job_out(job(job_id))

    @router.get(
        "/{job_id}/report",
        response_class=FileResponse,
        responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
    )
    def report(job_id: JobId, user: User) -> FileResponse:
        """The finished job's HTML report (charts, monthly returns, trades); 404 before."""
        found = job(job_id)
        path = runner().report(job_id)
        if found.state != "finished" or not path.is_file():
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=f"backtest job {job_id} has no report ({found.state})",
            )
        return FileResponse(path, media_type="text/html")

    return router
