"""Records that exist to be published: what happened, as the bus carries it.

The records the domain already had (:class:`~quantum_trader.domain.market.Candle`,
:class:`~quantum_trader.domain.orders.Order`, :class:`~quantum_trader.domain.positions.Trade`,
:class:`~quantum_trader.domain.risk.RiskDecision`, ...) are published as they are. The ones here
have no other life: a fill with its order's new state, a regime change, a drift or covariate
shift alarm, a health alert, a policy update and a model's stage change.

They live in the domain (not in the modules that publish them) so that ``bus/topics.py`` can
name each topic's record type while the bus, a core package, imports nothing but the domain;
and so that a subscriber reads a typed record without importing its publisher.

Field names and order are the wire format: a record's payload is its fields in declaration
order (``bus/codec.py``), and the replay's event-log hash covers those keys and values. Change
them only together with the event-log hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from quantum_trader.domain import checks
from quantum_trader.domain.market import Regime
from quantum_trader.domain.orders import Fill, Order, OrderStatus, Side


@dataclass(frozen=True, slots=True)
class OrderFilled:
    """``execution.order.filled``: one fill and the state of its order after it (one event per
    fill, no separate order update). Flat, because the payload is flat."""

    fill_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float
    time: int
    is_maker: bool
    order_status: OrderStatus
    order_filled_quantity: float
    order_average_price: float

    @classmethod
    def of(cls, fill: Fill, order: Order) -> OrderFilled:
        """The event of ``fill`` on ``order`` (the order as it is after the fill)."""
        f = fill
        return cls(
            f.fill_id,
            f.client_order_id,
            f.symbol,
            f.side,
            f.quantity,
            f.price,
            f.fee,
            f.time,
            f.is_maker,
            order.status,
            order.filled_quantity,
            order.average_price,
        )

    @property
    def fill(self) -> Fill:
        return Fill(
            self.fill_id,
            self.client_order_id,
            self.symbol,
            self.side,
            self.quantity,
            self.price,
            self.fee,
            self.time,
            self.is_maker,
        )


class RegimeScope(StrEnum):
    SYMBOL = "symbol"
    MARKET = "market"


@dataclass(frozen=True, slots=True)
class RegimeChange:
    """``regime.changed``: a symbol's regime, or the market-wide one (``symbol`` "MARKET"),
    changed. The scores are None for the market-wide regime (it is a vote, not a score)."""

    scope: RegimeScope
    symbol: str
    regime: Regime
    previous: Regime | None
    time: int
    trend_score: float | None
    vol_percentile: float | None


@dataclass(frozen=True, slots=True)
class DriftDetected:
    """``model.drift.detected``: a change detector fired on a model's losses for one symbol."""

    model: str
    symbol: str
    detector: str  # "cusum"
    side: str  # "mean_up" | "mean_down" | "variance_up"
    statistic: float
    threshold: float
    window: int
    points_since_reference: int
    reference_mean_loss: float
    reference_std_loss: float
    time: int
    prediction_time: int


class ShiftState(StrEnum):
    STARTED = "started"
    ENDED = "ended"


class ShiftAction(StrEnum):
    """What the ensemble does with a shifted model's vote."""

    ABSTAIN = "abstain"
    DOWN_WEIGHT = "down_weight"


@dataclass(frozen=True, slots=True)
class ShiftEvidence:
    """One feature's shift statistics (PSI, Kolmogorov-Smirnov statistic and p-value)."""

    feature: str
    psi: float
    ks: float
    ks_p: float


@dataclass(frozen=True, slots=True)
class CovariateShift:
    """``model.covariate_shift``: a model's live inputs started or stopped looking unlike its
    training data. ``features`` names the most shifted features, ``evidence`` their numbers."""

    model: str
    symbol: str
    state: ShiftState
    features: tuple[str, ...]
    evidence: tuple[ShiftEvidence, ...]
    energy: float
    energy_threshold: float
    severity: float
    rows: int
    action: ShiftAction
    down_weight: float
    time: int


class AlertSeverity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class HealthAlert:
    """``health.alert``: something is wrong with the system (a venue down, a data gap)."""

    severity: AlertSeverity
    message: str


@dataclass(frozen=True, slots=True)
class PolicyUpdate:
    """``policy.updated``: a new version of a policy key, its value as the key's schema dumps
    it (JSON-compatible; the policy store validates it against the schema when it reads)."""

    key: str
    version: int
    value: Mapping[str, Any]
    changed_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class ModelStageChange:
    """``model.stage_changed``: a model version entered a registry stage.

    The key fields are the registry's model key (``model``/``scope``/``horizon``, ``scope`` a
    symbol or "global"). Stages and action are the registry's enum values as text
    (``learning.registry.Stage``/``Action``: the registry owns them), ``from_stage`` None when
    the version was just registered. ``actor`` is a person or the rule that decided.
    """

    model: str
    scope: str
    horizon: int
    version: int
    from_stage: str | None
    to_stage: str
    action: str
    actor: str
    reason: str
    time: int

    def __post_init__(self) -> None:
        name = "ModelStageChange"
        for field in ("model", "scope", "to_stage", "action", "actor"):
            checks.non_empty(name, field, getattr(self, field))
        checks.positive(name, "version", self.version)
        checks.non_negative(name, "horizon", self.horizon)
