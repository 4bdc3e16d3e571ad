"""What an operator reads in the log of a run: the events that change what the engine does.

One subscriber on the bus, so no module logs from its hot loop: trading-state changes (the
breaker, the kill switch, a halt reset), risk-mode changes (the global trading policy), registry
stage changes this run hears of (promotions, rollbacks), drift and covariate shift flagged on a
model, health alerts. Refused orders are counted, not logged one by one (a replay refuses
hundreds): a line every :data:`REFUSALS_EVERY` and a summary by rule when the run stops.

Each line carries ``at``, the engine time of the event (a replay's candle time), beside the
log's own wall-clock timestamp. What happens outside the bus is logged where it happens, in the
main job (run start and end, trainings, crashes) and in ``serving_health`` (artifacts refused).
"""

from __future__ import annotations

import traceback
from collections import Counter
from typing import Any

from quantum_trader.bus import topics
from quantum_trader.bus.port import EventBus, Subscription
from quantum_trader.bus.typed import subscribe_records
from quantum_trader.clock.clock import Clock
from quantum_trader.domain.errors import QuantumTraderError
from quantum_trader.domain.events import (
    CovariateShift,
    DriftDetected,
    HealthAlert,
    ModelStageChange,
    PolicyUpdate,
)
from quantum_trader.domain.policy import TRADING_POLICY_KEY
from quantum_trader.domain.risk import Outcome, RiskDecision, TradingState, TradingStateChange
from quantum_trader.domain.time import fmt
from quantum_trader.observability.logging import get_logger

log = get_logger("quantum_trader.operator")

#: a progress line after every this many refused orders (and a summary at the end)
REFUSALS_EVERY = 1_000


def _rule(reason: str) -> str:
    """The rule's name of a refusal reason (``"max_positions: 3 open"`` → ``max_positions``)."""
    return reason.split(":", 1)[0].strip() or "?"


def log_run_failure(exc: BaseException) -> None:
    """One line for a run that ended by an error: the error's text for one raised on purpose,
    the traceback's last frame too for a crash."""
    if isinstance(exc, KeyboardInterrupt):
        log.warning("run.interrupted")
    elif isinstance(exc, QuantumTraderError):
        log.error("run.failed", error=str(exc), kind=type(exc).__name__)
    else:
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f"{frame.filename}:{frame.lineno} in {frame.name}" if frame else "?"
        log.error("run.crashed", error=f"{type(exc).__name__}: {exc}", where=where)


class OperatorLog:
    """Subscribes to the operator's topics on ``attach``; ``close`` writes the refusal summary.
    ``clock`` (the engine's) dates the events whose record carries no time of its own."""

    def __init__(self, clock: Clock, refusals_every: int = REFUSALS_EVERY) -> None:
        self._clock = clock
        self.refusals: Counter[str] = Counter()  # refused orders by a rule that refused them
        self.decisions = 0
        self._every = refusals_every
        self._subs: list[Subscription] = []

    def attach(self, bus: EventBus) -> None:
        self._subs = [
            subscribe_records(bus, topics.RISK_STATE_CHANGED, self.on_trading_state),
            subscribe_records(bus, topics.POLICY_UPDATED, self.on_policy),
            subscribe_records(bus, topics.RISK_DECISION, self.on_decision),
            subscribe_records(bus, topics.MODEL_STAGE_CHANGED, self.on_stage),
            subscribe_records(bus, topics.MODEL_DRIFT_DETECTED, self.on_drift),
            subscribe_records(bus, topics.MODEL_COVARIATE_SHIFT, self.on_shift),
            subscribe_records(bus, topics.HEALTH_ALERT, self.on_alert),
        ]

    def close(self) -> None:
        for sub in self._subs:
            sub.cancel()
        self._subs = []
        total = sum(self.refusals.values())
        log.info(
            "risk.refusals",
            refused=total,
            decisions=self.decisions,
            by_rule=dict(self.refusals.most_common()),
        )

    # --- handlers (one line each, except refused orders) ------------------------------------
    def on_trading_state(self, change: TradingStateChange) -> None:
        emit = log.info if change.state is TradingState.ACTIVE else log.warning
        emit(
            "risk.trading_state",
            previous=change.previous.value,
            state=change.state.value,
            reason=change.reason,
            by=change.by,
            at=fmt(change.at),
        )

    def on_policy(self, update: PolicyUpdate) -> None:
        if update.key != TRADING_POLICY_KEY:
            return
        mode: Any = update.value.get("risk_mode")
        log.info(
            "risk.mode",
            mode=mode,
            policy_version=update.version,
            reason=update.reason,
            by=update.changed_by,
            at=fmt(self._clock.now()),
        )

    def on_decision(self, decision: RiskDecision) -> None:
        self.decisions += 1
        if decision.outcome is not Outcome.REJECTED:
            return
        # trims come first, the rejecting rules after them (risk/engine.py ``run_rules``)
        self.refusals[_rule(decision.reasons[-1]) if decision.reasons else "?"] += 1
        total = sum(self.refusals.values())
        if total % self._every == 0:
            log.info(
                "risk.refusals", refused=total, decisions=self.decisions, at=fmt(decision.time)
            )

    def on_stage(self, change: ModelStageChange) -> None:
        log.info(
            "model.stage_changed",
            line=f"{change.model}/{change.scope}/h{change.horizon}",
            version=change.version,
            from_stage=change.from_stage,
            to_stage=change.to_stage,
            action=change.action,
            by=change.actor,
            reason=change.reason,
            at=fmt(change.time),
        )

    def on_drift(self, event: DriftDetected) -> None:
        log.warning(
            "model.drift",
            model=event.model,
            symbol=event.symbol,
            detector=event.detector,
            side=event.side,
            statistic=round(event.statistic, 4),
            threshold=round(event.threshold, 4),
            at=fmt(self._clock.now()),
        )

    def on_shift(self, event: CovariateShift) -> None:
        log.info(
            "model.covariate_shift",
            model=event.model,
            symbol=event.symbol,
            state=str(event.state),
            features=list(event.features),
            severity=round(event.severity, 4),
            at=fmt(self._clock.now()),
        )

    def on_alert(self, alert: HealthAlert) -> None:
        log.warning(
            "health.alert",
            severity=str(alert.severity),
            message=alert.message,
            at=fmt(self._clock.now()),
        )
