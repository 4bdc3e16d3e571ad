"""The bodies of the backtest-job routes. Times are epoch milliseconds, UTC (``created_at``,
``started_at``, ``finished_at``: the wall clock; ``start``/``end``: the replayed span)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field, model_validator

from quantum_trader.api.schemas import Out

DAY_MS = 86_400_000
#: a job replays at most this span (a year of 1h candles on a few symbols: about a minute)
MAX_SPAN_DAYS = 366


class BacktestIn(BaseModel):
    """The SMA-cross backtest of ``quantum-trader backtest --strategy sma_cross``."""

    symbols: list[Annotated[str, Field(pattern=r"^[A-Z0-9]{2,30}$")]] = Field(
        min_length=1, max_length=10
    )
    timeframe: str = Field("1h", pattern=r"^[0-9]{1,3}[mhdw]$")
    start: int = Field(ge=0, description="first candle open, epoch ms")
    end: int = Field(ge=0, description="end of the replay (exclusive), epoch ms")
    fast: int = Field(10, ge=1, le=500)
    slow: int = Field(30, ge=2, le=1000)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.start < self.end <= self.start + MAX_SPAN_DAYS * DAY_MS:
            raise ValueError(f"need start < end, at most {MAX_SPAN_DAYS} days apart")
        if self.fast >= self.slow:
            raise ValueError("fast must be shorter than slow")
        return self


class BacktestJobOut(Out):
    job_id: int
    state: Literal["queued", "running", "finished", "failed"]
    symbols: list[str]
    timeframe: str
    start: int
    end: int
    fast: int
    slow: int
    created_at: int
    started_at: int | None
    finished_at: int | None
    progress: float  # 0–1: the replayed span over the asked one; 1 once finished
    reason: str  # why it failed ("" otherwise)
    metrics: dict[str, float | int | str | None]  # the report's metrics once finished
    report: str | None  # the report's route once finished
