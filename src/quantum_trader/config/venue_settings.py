"""Where orders go (docs/live.md), mixed into :class:`quantum_trader.config.settings.Settings`;
the caps' ranges are in its NUMERIC_BOUNDS.

``QT_VENUE``: ``paper`` (the simulated exchange; the default), ``testnet`` (Binance USDT-M's
testnet through ccxt's sandbox mode) or ``live`` (real money). A run's replay is always paper;
the venue takes the orders of the live candles. Real money needs every switch of the gate, each
checked where it is given: ``QT_LIVE`` exactly ``true`` (here; ``1`` or ``yes`` are refused),
``QT_VENUE=live`` (here, both ways), the caps per order and per day (here), non-blank keys and
the acknowledgement flag on the command line (``app/venue.py``, when a run starts).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VENUE_ACCEPTED = {
    "live": "exactly true or false (real orders need QT_VENUE=live as well)",
    "binance_api_key": "the venue account's key (testnet keys for QT_VENUE=testnet), not blank",
    "binance_api_secret": "the key's secret, not blank",
}


class VenueSettings(BaseSettings):
    """Which venue takes the live candles' orders, with what keys and limits."""

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", populate_by_name=True, case_sensitive=True
    )

    venue: Literal["paper", "testnet", "live"] = Field(
        "paper", validation_alias=AliasChoices("QT_VENUE", "venue")
    )
    live: bool = Field(False, validation_alias=AliasChoices("QT_LIVE", "live"))
    binance_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("QT_BINANCE_API_KEY", "binance_api_key")
    )
    binance_api_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("QT_BINANCE_API_SECRET", "binance_api_secret")
    )
    #: the user's limits on a real venue, USDT of notional (required for QT_VENUE=live)
    live_max_order_notional: float | None = Field(
        None, validation_alias=AliasChoices("QT_LIVE_MAX_ORDER_NOTIONAL", "live_max_order_notional")
    )
    live_max_daily_notional: float | None = Field(
        None, validation_alias=AliasChoices("QT_LIVE_MAX_DAILY_NOTIONAL", "live_max_daily_notional")
    )
    #: requests per minute the venue adapter allows itself, on top of ccxt's own limiter
    venue_requests_per_minute: int = Field(
        600,
        validation_alias=AliasChoices("QT_VENUE_REQUESTS_PER_MINUTE", "venue_requests_per_minute"),
    )

    #: how often, in engine minutes, the venue's account is reconciled with the book
    reconcile_minutes: int = Field(
        15, validation_alias=AliasChoices("QT_RECONCILE_MINUTES", "reconcile_minutes")
    )

    @field_validator("live", mode="before")
    @classmethod
    def _exactly_true(cls, value: object) -> object:
        """Real money is not switched on by ``1``, ``yes`` or ``True`` typed by habit."""
        if isinstance(value, str) and value not in ("true", "false"):
            raise ValueError(
                "only the exact word true switches real money on (not 1, yes, on or True)"
            )
        return value

    @field_validator("binance_api_key", "binance_api_secret")
    @classmethod
    def _not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("blank: unset it or give the key")
        return value

    @model_validator(mode="after")
    def _live_gate(self) -> VenueSettings:
        if self.live and self.venue != "live":
            raise ValueError(
                f"QT_LIVE=true asks for real orders but QT_VENUE={self.venue}: set QT_VENUE=live "
                "(run --venue live) or unset QT_LIVE"
            )
        if self.venue == "live":
            missing = [
                name
                for name, ok in (
                    ("QT_LIVE=true", self.live),
                    ("QT_LIVE_MAX_ORDER_NOTIONAL", self.live_max_order_notional is not None),
                    ("QT_LIVE_MAX_DAILY_NOTIONAL", self.live_max_daily_notional is not None),
                )
                if not ok
            ]
            if missing:
                raise ValueError("QT_VENUE=live (real money) also needs " + ", ".join(missing))
        return self
