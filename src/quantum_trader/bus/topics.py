"""Topic names of the event bus, in one place so a typo is an import error."""

from __future__ import annotations

from typing import Final

MARKET_CANDLE_CLOSED: Final = "market.candle.closed"
MARKET_FUNDING: Final = "market.funding"
AI_SIGNAL: Final = "ai.signal"
RISK_DECISION: Final = "risk.decision"
EXECUTION_ORDER_SUBMITTED: Final = "execution.order.submitted"
EXECUTION_ORDER_UPDATED: Final = "execution.order.updated"
EXECUTION_ORDER_FILLED: Final = "execution.order.filled"
EXECUTION_TRADE_CLOSED: Final = "execution.trade.closed"
POLICY_UPDATED: Final = "policy.updated"
MODEL_DRIFT_DETECTED: Final = "model.drift.detected"
MODEL_COVARIATE_SHIFT: Final = "model.covariate_shift"
REGIME_CHANGED: Final = "regime.changed"
RL_META_STRATEGY_SELECTED: Final = "rl.meta.strategy_selected"
RL_META_UPDATED: Final = "rl.meta.updated"
HEALTH_ALERT: Final = "health.alert"
SCHEDULER_JOB_RAN: Final = "scheduler.job.ran"
