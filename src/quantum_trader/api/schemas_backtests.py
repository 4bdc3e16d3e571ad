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
    """A backtest of ``quantum-trader backtest``: ``strategy`` ``sma_cross`` (the default;
    ``fast``/``slow`` its averages) or ``ai`` (``--strategy ai``: the full decision path on
    models it trains before ``start``; ``fast``/``slow`` do not apply and are refused)."""

    symbols: list[Annotated[str, Field(pattern=r"^[A-Z0-9]{2,30}$")]] = Field(
        min_length=1, max_length=10
    )
    timeframe: str = Field("1h", pattern=r"^[0-9]{1,3}[mhdw]$")
    start: int = Field(ge=0, description="first candle open, epoch ms")
    end: int = Field(ge=0, description="end of the replay (exclusive), epoch ms")
    strategy: Literal["sma_cross", "ai"] = Field(
        "sma_cross", description="sma_cross, or ai: the full decision path (no fast/slow)"
    )
    fast: int = Field(10, ge=1, le=500, description="sma_cross only")
    slow: int = Field(30, ge=2, le=1000, description="sma_cross only")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.start < self.end <= self.start + MAX_SPAN_DAYS * DAY_MS:
            raise ValueError(f"need start < end, at most {MAX_SPAN_DAYS} days apart")
        if self.strategy == "ai":
            sma = sorted({"fast", "slow"} & self.model_fields_set)
            if sma:
                raise ValueError(f"{' and '.join(sma)}: the SMA cross's, not the ai strategy's")
        elif self.fast >= self.slow:
            raise ValueError("fast must be shorter than slow")
        return self


class BacktestJobOut(Out):
    job_id: int
    state: Literal["queued", "running", "finished", "failed"]
    strategy: Literal["sma_cross", "ai"]
    symbols: list[str]
    timeframe: str
    start: int
    end: int
    fast: int | None  # the SMA cross's averages (null for ai)
    slow: int | None
    created_at: int
    started_at: int | None
    finished_at: int | None
    progress: float  # 0–1: the replayed span over the asked one; 1 once finished
    reason: str  # why it failed ("" otherwise)
    metrics: dict[str, float | int | str | None]  # the report's metrics once finished
    report: str | None  # the report's route once finished
