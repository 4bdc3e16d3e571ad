"""Static risk limits: what no policy change can loosen.

The meta strategy controller moves the *policy* (max positions, leverage, stop distance, risk
per trade) with the risk mode; the limits here are the floor under it and change only by
configuration. Every fraction is of current equity unless said otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantum_trader.domain import checks
from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.time import MS_PER_HOUR


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Frozen static limits of the risk engine, with their defaults.

    >>> RiskConfig().drawdown_halted
    0.2
    >>> RiskConfig(drawdown_reducing=0.3, drawdown_halted=0.2)
    Traceback (most recent call last):
    ...
    quantum_trader.domain.errors.DomainValidationError: RiskConfig.drawdown_halted=0.2: must be > drawdown_reducing (0.3)
    """

    #: largest notional (quantity × price, USDT) of one order, reducing orders included.
    max_order_notional: float = 100_000.0
    #: smallest notional of an order (the venue's minimum); a full close may be smaller.
    min_order_notional: float = 5.0
    #: largest notional of one symbol's position, as a multiple of equity.
    max_symbol_exposure: float = 1.5
    #: largest gross notional of all positions, as a multiple of equity (policy leverage also caps it).
    max_total_exposure: float = 5.0
    #: daily loss (fraction of the day's starting equity) that stops new risk for the day.
    daily_loss_limit: float = 0.05
    #: drawdown from the breaker peak that moves trading to REDUCING (risk/state.py).
    drawdown_reducing: float = 0.10
    #: drawdown from the breaker peak below which REDUCING returns to ACTIVE (hysteresis).
    drawdown_resume: float = 0.07
    #: engine time flat (no open position) after which REDUCING by drawdown is released and the
    #: breaker peak re-baselined to the equity at release (ms).
    reducing_cooldown_ms: int = 72 * MS_PER_HOUR
    #: drawdown from the all-time peak that HALTS trading; latched until reset by hand.
    drawdown_halted: float = 0.20
    #: consecutive losing trades on a symbol that start a cooldown on it.
    max_consecutive_losses: int = 3
    #: how long a symbol cools down after the losing streak (ms).
    cooldown_ms: int = 4 * MS_PER_HOUR
    #: oldest acceptable close of the last candle seen for a symbol (ms before now).
    stale_data_max_age_ms: int = 2 * MS_PER_HOUR
    #: largest relative distance of an order's price from the mark price.
    price_band: float = 0.05
    #: slack on the risk-per-trade check, for rounding in sizing.
    risk_per_trade_tolerance: float = 0.01

    def __post_init__(self) -> None:
        name = "RiskConfig"
        for field in (
            "max_order_notional",
            "min_order_notional",
            "max_symbol_exposure",
            "max_total_exposure",
            "daily_loss_limit",
            "drawdown_reducing",
            "drawdown_halted",
            "cooldown_ms",
            "reducing_cooldown_ms",
            "stale_data_max_age_ms",
            "price_band",
        ):
            checks.positive(name, field, getattr(self, field))
        checks.non_negative(name, "drawdown_resume", self.drawdown_resume)
        checks.non_negative(name, "risk_per_trade_tolerance", self.risk_per_trade_tolerance)
        if self.min_order_notional >= self.max_order_notional:
            raise DomainValidationError(
                name,
                "min_order_notional",
                self.min_order_notional,
                f"must be < max_order_notional ({self.max_order_notional})",
            )
        if self.drawdown_resume >= self.drawdown_reducing:
            raise DomainValidationError(
                name,
                "drawdown_resume",
                self.drawdown_resume,
                f"must be < drawdown_reducing ({self.drawdown_reducing})",
            )
        if self.drawdown_halted <= self.drawdown_reducing:
            raise DomainValidationError(
                name,
                "drawdown_halted",
                self.drawdown_halted,
                f"must be > drawdown_reducing ({self.drawdown_reducing})",
            )
        if self.drawdown_halted >= 1 or self.daily_loss_limit >= 1:
            raise DomainValidationError(
                name, "drawdown_halted/daily_loss_limit", self.drawdown_halted, "must be < 1"
            )
        if self.max_consecutive_losses < 1:
            raise DomainValidationError(
                name, "max_consecutive_losses", self.max_consecutive_losses, "must be >= 1"
            )
