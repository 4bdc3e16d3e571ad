"""Every topic of the event bus and the record type it carries, in one place.

A topic is a :class:`~quantum_trader.bus.codec.Topic`: its wire name and one record type, with
one encoding (record → JSON-compatible payload) and one decoding (payload → record). Publish
with :func:`~quantum_trader.bus.typed.publish_event`, subscribe with
:func:`~quantum_trader.bus.typed.subscribe_records`: subscribers get records, never dicts.

Why the record types are domain types (``domain/``): the bus is a core package that the modules
import, so it may import nothing above the domain. Declaring the records in the domain lets this
one file say which record each topic carries, statically typed, without the bus importing the
risk engine, the regime detector or the drift monitor; and a subscriber reads a record without
importing its publisher. (The alternative, each module declaring its own ``Topic[R]``, would
scatter the topic list over the modules and make a subscriber import its publisher.)

Adding a topic: a frozen dataclass in the domain (``domain/events.py`` if it has no other
use), one line here, and one line in ``tests/bus/test_topics.py`` (a sample record and the
payload keys it must have).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from quantum_trader.bus.codec import Topic, topic
from quantum_trader.domain.events import (
    CovariateShift,
    DriftDetected,
    HealthAlert,
    ModelStageChange,
    OrderFilled,
    PolicyUpdate,
    RegimeChange,
)
from quantum_trader.domain.market import Candle
from quantum_trader.domain.orders import Order
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.risk import RiskDecision, TradingStateChange

# --- market data -------------------------------------------------------------------------------
CANDLE_CLOSED: Final = topic("market.candle.closed", Candle)
REGIME_CHANGED: Final = topic("regime.changed", RegimeChange)

# --- risk ---------------------------------------------------------------------------------------
RISK_DECISION: Final = topic("risk.decision", RiskDecision)
RISK_STATE_CHANGED: Final = topic("risk.state.changed", TradingStateChange)
HEALTH_ALERT: Final = topic("health.alert", HealthAlert)
POLICY_UPDATED: Final = topic("policy.updated", PolicyUpdate)

# --- execution (published through the fast path: ``EventBus.publish_record`` with ``.keys``) ---
ORDER_SUBMITTED: Final = topic("execution.order.submitted", Order)
ORDER_UPDATED: Final = topic("execution.order.updated", Order)
ORDER_FILLED: Final = topic("execution.order.filled", OrderFilled)
TRADE_CLOSED: Final = topic("execution.trade.closed", Trade)

# --- models -------------------------------------------------------------------------------------
MODEL_DRIFT_DETECTED: Final = topic("model.drift.detected", DriftDetected)
MODEL_COVARIATE_SHIFT: Final = topic("model.covariate_shift", CovariateShift)
#: published by the model registry's refresh job; a serving ensemble swaps members on it
MODEL_STAGE_CHANGED: Final = topic("model.stage_changed", ModelStageChange)

ALL: Final[tuple[Topic[Any], ...]] = (
    CANDLE_CLOSED,
    REGIME_CHANGED,
    RISK_DECISION,
    RISK_STATE_CHANGED,
    HEALTH_ALERT,
    POLICY_UPDATED,
    ORDER_SUBMITTED,
    ORDER_UPDATED,
    ORDER_FILLED,
    TRADE_CLOSED,
    MODEL_DRIFT_DETECTED,
    MODEL_COVARIATE_SHIFT,
    MODEL_STAGE_CHANGED,
)
BY_NAME: Final[Mapping[str, Topic[Any]]] = {t.name: t for t in ALL}
