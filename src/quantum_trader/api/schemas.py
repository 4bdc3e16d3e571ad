"""The response and request bodies of every route: the OpenAPI document is derived from these.
Times are epoch milliseconds, UTC."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorOut(Out):
    detail: str


class PingOut(Out):
    ping: str = "pong"


class HealthOut(Out):
    status: str
    database: bool


class LoginIn(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class LoginOut(Out):
    access_token: str
    token_type: str = "bearer"
    expires_at: int  # epoch seconds
    csrf_token: str


class LivenessOut(Out):
    line: str
    alive: bool
    died: bool


class ModuleOut(Out):
    name: str
    enabled: bool
    state: str
    reason: str
    run_id: str | None
    last_heartbeat: int | None
    last_activity: int | None
    counters: dict[str, int]
    process: str | None = None  # the process reporting it (status/services.py)
    process_state: str | None = None  # UP, DOWN or STOPPED


class ProcessOut(Out):
    process_id: str
    role: str
    host: str
    pid: int
    run_id: str | None
    state: str  # UP, DOWN (no beat for down_after_ms) or STOPPED
    started_at: int  # wall epoch ms
    beat_at: int  # wall epoch ms
    down_after_ms: int
    modules: list[str]


class StatusOut(Out):
    engine: LivenessOut
    modules: list[ModuleOut]
    processes: list[ProcessOut] = []


class KillSwitchOut(Out):
    engaged: bool
    reason: str
    changed_by: str
    changed_at: int


class KillSwitchIn(BaseModel):
    on: bool
    reason: str = Field(min_length=1, max_length=500)


class TradingStateOut(Out):
    state: str
    previous: str
    reason: str
    by: str
    at: int
    recorded_at: int | None
    halt_latched: bool


class RiskModeOut(Out):
    mode: str
    reasons: list[str]
    at: int
    recorded_at: int | None


class RiskOut(Out):
    kill_switch: KillSwitchOut
    trading_state: TradingStateOut | None  # None: no transition recorded (ACTIVE)
    risk_mode: RiskModeOut | None


class RiskDecisionOut(Out):
    decision_id: str
    time: int
    symbol: str
    side: str
    outcome: str
    requested_quantity: float
    final_quantity: float
    trading_state: str
    risk_mode: str
    reasons: list[str]


class TradeOut(Out):
    trade_id: str
    symbol: str
    side: str
    quantity: float
    entry_price: float
    exit_price: float
    entry_time: int
    exit_time: int
    pnl: float
    fees: float
    funding: float
    strategy: str
    exit_reason: str


class OrderOut(Out):
    client_order_id: str
    symbol: str
    side: str
    order_type: str
    quantity: float
    created_at: int
    price: float | None
    status: str
    filled_quantity: float
    average_price: float
    reason: str


class RunRecordsOut(Out):
    """Records of the last run (None: no run recorded, or it kept no execution state)."""

    run_id: str | None
    trades: list[TradeOut] = []
    orders: list[OrderOut] = []


class ModelVersionOut(Out):
    key: str
    version: int
    stage: str
    artifact_hash: str
    created_at: int


class ExperimentOut(Out):
    name: str
    status: str
    arms: list[str]
    control: str
    samples: int
    probabilities: dict[str, float]
    verdict: str
    arm: str | None
    summary: str


class AuditOut(Out):
    at: int
    event: str
    detail: str


class ExperimentDetailOut(ExperimentOut):
    spec: JsonValue
    comparisons: dict[str, str]
    srm: str
    audit: list[AuditOut]


class TrialOut(Out):
    id: int
    kind: str
    name: str
    config_hash: str
    code_version: str
    symbols: list[str]
    timeframe: str
    data_start: int
    data_end: int
    seed: int
    sharpe: float | None
    periods: int
    recorded_at: int
    metrics: dict[str, float | int | None]


class ConfigOut(Out):
    settings: dict[str, JsonValue]
