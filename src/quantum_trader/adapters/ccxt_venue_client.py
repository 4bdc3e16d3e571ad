"""Builds the ccxt client for Binance USDT-M futures and the :class:`CcxtVenue` over it.

Three endpoints: ``testnet`` (ccxt's sandbox mode, ``set_sandbox_mode(True)``), ``live``, or a
``base_url`` that replaces every ``fapi`` URL (the exchange double of the tests). Markets are
loaded for linear futures only (``options.fetchMarkets.types = ["linear"]``) and
``fetchCurrencies`` is off, so ``load_markets`` calls ``/fapi/v1/exchangeInfo`` (and
``/fapi/v1/time`` to learn the clock offset) and nothing on spot, ``dapi`` or ``sapi``.

ccxt's exceptions are sorted here into what the venue acts on (:class:`VenueErrors`): no answer
or an answer that leaves the outcome unknown (``OperationFailed``: its ``NetworkError`` —
timeouts, disconnects, 5xx — and ``BadResponse``), rate limited (``DDoSProtection`` — 418 — and
``RateLimitExceeded`` — 429, both ``NetworkError`` subclasses, so the venue tests them first),
no such order (``OrderNotFound``), refused (``ExchangeError``).

:class:`BinanceUsdmVenue` adds the account's fee tier (``commission_rate``): ccxt 4.5.90's
``fetch_trading_fee`` sends a linear market's request to ``GET /fapi/v1/commissionRate``
(``fapiPrivateGetCommissionRate``, signed); its raw answer (``info``) is checked here, as
ccxt's own parse turns a field that is not a number into None.

ccxt logs every request at DEBUG through the standard library's ``logging`` with its headers,
and Binance's carry the API key (``X-MBX-APIKEY``): :class:`_MaskKeys` masks the keys of every
client built here in those records before any handler sees them (``tests/reliability/
test_secret_canary.py`` found the key in the captured log).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import ccxt

from quantum_trader.data.symbols import to_ccxt_perp
from quantum_trader.domain.errors import DataError
from quantum_trader.execution.ccxt_venue import CcxtClient, CcxtVenue, VenueErrors
from quantum_trader.execution.request_budget import RequestBudget
from quantum_trader.execution.venue import CommissionUnavailable, VenueCommission
from quantum_trader.execution.venue_fees import commission_from_payload
from quantum_trader.observability.logging import MASK

Endpoint = Literal["testnet", "live"]

_FAPI = ("fapiPublic", "fapiPrivate")
_VERSIONS = {"": "v1", "V2": "v2", "V3": "v3"}


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class VenueSettingsLike(Protocol):
    """The settings :func:`build_ccxt_venue` reads (``config.venue_settings.VenueSettings``;
    a Protocol, as adapters do not import the config package)."""

    @property
    def venue(self) -> str: ...

    @property
    def binance_api_key(self) -> _Secret | None: ...

    @property
    def binance_api_secret(self) -> _Secret | None: ...

    @property
    def venue_requests_per_minute(self) -> int: ...


@dataclass(frozen=True, slots=True)
class CcxtClientConfig:
    """``timeout_ms``: ccxt's per-request timeout (no answer by then: outcome unknown);
    ``enable_rate_limit``: ccxt's own limiter (off only against the local double, where its
    50 ms spacing would only slow the tests; the venue's request budget still applies)."""

    endpoint: Endpoint = "testnet"
    api_key: str = field(default="", repr=False)  # never in a repr, a log line or an error
    api_secret: str = field(default="", repr=False)
    base_url: str | None = None
    timeout_ms: int = 10_000
    enable_rate_limit: bool = True
    adjust_for_time_difference: bool = True

    def __post_init__(self) -> None:
        if self.endpoint not in ("testnet", "live"):
            raise ValueError(f"endpoint {self.endpoint!r}: testnet or live")
        if self.timeout_ms <= 0:
            raise ValueError(f"timeout_ms {self.timeout_ms}: must be positive")


class _MaskKeys(logging.Filter):
    """Masks the API keys and secrets of the clients built here in ccxt's log records (module
    docstring); the record's text is rendered here once it holds one."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            if any(s in text for s in self.secrets):
                for secret in self.secrets:
                    text = text.replace(secret, MASK)
                record.msg, record.args = text, None
        return True


#: on the logger ccxt's ``Exchange`` writes its requests to (a logger's filters are not
#: inherited by its children, so the parent ``ccxt`` would not do)
_MASK = _MaskKeys()
logging.getLogger("ccxt.base.exchange").addFilter(_MASK)


def venue_errors() -> VenueErrors:
    """ccxt's exception classes, sorted for :class:`CcxtVenue`."""
    return VenueErrors(
        timeouts=(ccxt.OperationFailed,),
        not_found=(ccxt.OrderNotFound,),
        rate_limited=(ccxt.DDoSProtection, ccxt.RateLimitExceeded),
        rejected=(ccxt.ExchangeError,),
    )


class _TradingFeeClient(Protocol):
    def fetch_trading_fee(self, symbol: str, params: dict[str, Any] = ...) -> dict[str, Any]: ...


class BinanceUsdmVenue(CcxtVenue):
    """:class:`CcxtVenue` over ccxt's ``binanceusdm``, which also reads the account's
    commission rates (``execution/venue.py::CommissionRates``)."""

    def commission_rate(self, symbol: str) -> VenueCommission:
        """The account's maker and taker rates on ``symbol`` (one signed request within the
        budget); :class:`CommissionUnavailable` when the venue gave none, ``DataError`` naming
        the symbol and the field when the answer is not a rate."""
        client: _TradingFeeClient = self.client  # type: ignore[assignment]
        try:
            market = to_ccxt_perp(symbol)
        except DataError as exc:  # not a rate the venue answered: a symbol it cannot name
            raise CommissionUnavailable(f"commission rate of {symbol}: {exc}") from exc
        try:
            raw = self._call(f"fetch_trading_fee {symbol}", client.fetch_trading_fee, market)
        except TimeoutError as exc:
            raise CommissionUnavailable(f"commission rate of {symbol}: {exc}") from exc
        except self.errors.rejected as exc:
            raise CommissionUnavailable(f"commission rate of {symbol}: refused: {exc}") from exc
        if not isinstance(raw, dict):
            raise DataError(f"commission rate of {symbol}: ccxt answered {raw!r}")
        return commission_from_payload(symbol, raw.get("info"))


def build_client(config: CcxtClientConfig) -> Any:
    """A ``ccxt.binanceusdm`` for ``config``; markets are not loaded yet (ccxt loads them on the
    first call that needs them). Its key and secret are masked in ccxt's log from now on."""
    _MASK.secrets.update(s for s in (config.api_key, config.api_secret) if s)
    client = ccxt.binanceusdm(
        {
            "apiKey": config.api_key,
            "secret": config.api_secret,
            "enableRateLimit": config.enable_rate_limit,
            "timeout": config.timeout_ms,
            "options": {
                "fetchMarkets": {"types": ["linear"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchOpenOrders": {"warnWithoutSymbol": False},
                "adjustForTimeDifference": config.adjust_for_time_difference,
                "defaultType": "swap",
                "defaultSubType": "linear",
            },
        }
    )
    if config.endpoint == "testnet" and config.base_url is None:
        client.set_sandbox_mode(True)
    if config.base_url is not None:
        base = config.base_url.rstrip("/")
        api = dict(client.urls["api"])
        for prefix in _FAPI:
            for suffix, version in _VERSIONS.items():
                api[prefix + suffix] = f"{base}/fapi/{version}"
        client.urls["api"] = api
    return client


def build_venue(
    config: CcxtClientConfig,
    *,
    requests_per_minute: int,
    symbols: Sequence[str] = (),
    budget: RequestBudget | None = None,
) -> BinanceUsdmVenue:
    """The venue over a fresh client; ``budget`` (tests: one on a fake clock) replaces the
    default one of ``requests_per_minute`` on the machine's clock."""
    client: CcxtClient = build_client(config)
    return BinanceUsdmVenue(
        client,
        errors=venue_errors(),
        budget=budget or RequestBudget(requests_per_minute, time.monotonic, time.sleep),
        symbols=symbols,
    )


def build_ccxt_venue(settings: VenueSettingsLike, symbols: Sequence[str] = ()) -> BinanceUsdmVenue:
    """The run's venue from its settings (``app/venue.py``): testnet or live, with its keys and
    request budget; ``symbols``: the run's, whose trades ``recent_fills`` reads even when no
    order of this session names them."""
    if settings.venue not in ("testnet", "live"):
        raise ValueError(f"venue {settings.venue!r} has no ccxt client (testnet or live)")
    endpoint: Endpoint = "live" if settings.venue == "live" else "testnet"
    key, secret = settings.binance_api_key, settings.binance_api_secret
    config = CcxtClientConfig(
        endpoint,
        key.get_secret_value() if key else "",
        secret.get_secret_value() if secret else "",
    )
    return build_venue(
        config, requests_per_minute=settings.venue_requests_per_minute, symbols=symbols
    )
