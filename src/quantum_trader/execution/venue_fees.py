"""The account's fee tier, read from the venue at the handover, for the live phase's costs.

The replay prices its entries (the cost gate, ``strategy/cost_gate.py``) at the configured
fees (``QT_MAKER_FEE``, ``QT_TAKER_FEE``). From the handover on, the venue charges the
account's own tier, which may differ; so the handover asks the venue for the rates of each of
the run's symbols (:class:`~quantum_trader.execution.venue.CommissionRates`) and the live
phase's cost gate prices entries at the venue's taker rate: the highest among the symbols, as
the gate has one rate and no symbol's entry may be priced below what it costs. The fees booked
on the live phase's fills are the venue's own (each trade's commission), whatever is read here.

Never a guess: when the venue does not report rates, gives no answer or refuses, or answers
with something that is not a rate, the configured fees stay and :class:`LiveFees` says so and
why (``cause``, ``reason``). A venue taker rate above the configured one is listed
(:attr:`LiveFees.above_configured`): the replay's entries were priced below the account's cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from quantum_trader.domain.errors import DataError
from quantum_trader.execution.simulated.fees import FeeSchedule
from quantum_trader.execution.venue import (
    CommissionRates,
    CommissionUnavailable,
    VenueCommission,
)

FeeSource = Literal["venue", "configured"]
#: why the configured fees stay: the venue cannot tell rates, did not give them, or answered
#: with something that is not a rate ("" when the venue's are used)
FeeCause = Literal["", "not_reported", "unavailable", "bad_payload"]

MAKER_FIELD = "makerCommissionRate"
TAKER_FIELD = "takerCommissionRate"
#: as the settings' bounds on the fees: a rate of 10 % or more cannot be meant
MAX_RATE = 0.1


def commission_from_payload(symbol: str, payload: object) -> VenueCommission:
    """Binance USDT-M's ``/fapi/v1/commissionRate`` answer for ``symbol`` as its rates; a
    :class:`DataError` naming the symbol and the field when it is not one.

    >>> answer = {"symbol": "BTCUSDT", MAKER_FIELD: "0.000200", TAKER_FIELD: "0.000400"}
    >>> commission_from_payload("BTCUSDT", answer)
    VenueCommission(symbol='BTCUSDT', maker=0.0002, taker=0.0004)
    >>> commission_from_payload("BTCUSDT", {**answer, TAKER_FIELD: "n/a"})
    Traceback (most recent call last):
    ...
    quantum_trader.domain.errors.DataError: commission rate of BTCUSDT: takerCommissionRate='n/a': not a number
    """
    where = f"commission rate of {symbol}"
    if not isinstance(payload, Mapping):
        raise DataError(f"{where}: the answer {payload!r} is not an object")
    named = payload.get("symbol")
    if named != symbol:
        raise DataError(f"{where}: symbol={named!r}: the answer is not for {symbol}")
    maker = _rate(where, payload, MAKER_FIELD)
    taker = _rate(where, payload, TAKER_FIELD)
    if taker < 0:
        raise DataError(f"{where}: {TAKER_FIELD}={payload[TAKER_FIELD]!r}: negative")
    return VenueCommission(symbol, maker, taker)


def _rate(where: str, payload: Mapping[str, Any], name: str) -> float:
    if name not in payload:
        raise DataError(f"{where}: {name} missing from the answer")
    raw = payload[name]
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise DataError(f"{where}: {name}={raw!r}: not a number")
    try:
        value = float(raw)
    except ValueError:
        raise DataError(f"{where}: {name}={raw!r}: not a number") from None
    if not math.isfinite(value) or abs(value) >= MAX_RATE:
        raise DataError(f"{where}: {name}={raw!r}: not a rate (finite, below {MAX_RATE:.0%})")
    return value


@dataclass(frozen=True, slots=True)
class LiveFees:
    """The fees the live phase prices with (``schedule``), where they come from, the venue's
    rates per symbol when read, and why the configured ones stay when they do."""

    source: FeeSource
    schedule: FeeSchedule
    configured: FeeSchedule
    rates: tuple[VenueCommission, ...] = ()
    cause: FeeCause = ""
    reason: str = ""

    @property
    def above_configured(self) -> tuple[VenueCommission, ...]:
        """The symbols whose venue taker rate is above the configured one."""
        return tuple(r for r in self.rates if r.taker > self.configured.taker)

    def summary(self) -> dict[str, Any]:
        """The fields of the run's ``venue.fees`` log line."""
        out: dict[str, Any] = {
            "source": self.source,
            "maker": self.schedule.maker,
            "taker": self.schedule.taker,
            "configured_maker": self.configured.maker,
            "configured_taker": self.configured.taker,
        }
        if self.rates:
            out["rates"] = {r.symbol: {"maker": r.maker, "taker": r.taker} for r in self.rates}
        if self.source == "configured":
            out["cause"], out["reason"] = self.cause, self.reason
        return out


def read_live_fees(venue: object, symbols: Sequence[str], configured: FeeSchedule) -> LiveFees:
    """The venue's rates for ``symbols`` (one request each), or the configured fees and why.
    The live phase's maker and taker are the highest of the symbols' rates."""

    def keep(cause: FeeCause, reason: str) -> LiveFees:
        return LiveFees("configured", configured, configured, cause=cause, reason=reason)

    if not isinstance(venue, CommissionRates):
        return keep("not_reported", f"{type(venue).__name__} does not report commission rates")
    if not symbols:
        return keep("not_reported", "the run has no symbol to read rates for")
    try:
        rates = tuple(venue.commission_rate(s) for s in symbols)
    except CommissionUnavailable as exc:
        return keep("unavailable", str(exc))
    except DataError as exc:
        return keep("bad_payload", str(exc))
    schedule = FeeSchedule(max(r.maker for r in rates), max(r.taker for r in rates))
    return LiveFees("venue", schedule, configured, rates)
