"""What every router needs, built once by :func:`quantum_trader.api.app.create_app`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine

from quantum_trader.api.answers import AnswerCache
from quantum_trader.api.auth import RequireUser
from quantum_trader.api.backtest_jobs import BacktestJobs
from quantum_trader.api.candles import CandleReader
from quantum_trader.api.config import ApiConfig
from quantum_trader.api.metrics import ApiMetrics
from quantum_trader.api.rate_limit import LoginRateLimiter
from quantum_trader.api.schemas import ErrorOut
from quantum_trader.api.tokens import TokenIssuer
from quantum_trader.clock.clock import Clock

#: every route's prefix but /metrics (Prometheus's convention)
API_PREFIX = "/api/v1"


class Liveness(Protocol):
    """What ``quantum-trader status`` says about the engine (``app/run_lock.py``)."""

    @property
    def line(self) -> str: ...
    @property
    def alive(self) -> bool: ...
    @property
    def died(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class ApiContext:
    config: ApiConfig
    engine: Engine
    clock: Clock
    issuer: TokenIssuer
    limiter: LoginRateLimiter
    require_user: RequireUser
    metrics: ApiMetrics
    settings: Mapping[str, Any]  # the effective settings, already redacted
    liveness: Callable[[], Liveness] | None
    answers: AnswerCache  # the read routes' kept answers (api/answers.py)
    candles: CandleReader | None = None  # None: no candle store (the market routes: 404)
    backtests: BacktestJobs | None = None  # None: no job runner (the backtest routes: 404)


#: the error answers every authenticated route documents (the OpenAPI schema stays exact)
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no valid credentials"},
    403: {"model": ErrorOut, "description": "cookie session without a matching CSRF token"},
}
