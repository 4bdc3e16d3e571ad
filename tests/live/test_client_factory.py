"""The ccxt client factory: which endpoints, which options, which exceptions mean what."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import ccxt
import pytest
from pydantic import SecretStr

from quantum_trader.adapters.ccxt_venue_client import (
    CcxtClientConfig,
    build_ccxt_venue,
    build_client,
    venue_errors,
)
from quantum_trader.execution.ccxt_venue import CcxtVenue, LiveGate
from tests.exchange_double import ExchangeDouble


def test_testnet_live_and_an_override_point_at_their_urls() -> None:
    testnet = build_client(CcxtClientConfig("testnet", "k", "s"))
    live = build_client(CcxtClientConfig("live", "k", "s", timeout_ms=5_000))
    local = build_client(CcxtClientConfig("live", base_url="http://127.0.0.1:9/"))
    assert testnet.urls["api"]["fapiPrivate"] == "https://testnet.binancefuture.com/fapi/v1"
    assert live.urls["api"]["fapiPrivateV3"] == "https://fapi.binance.com/fapi/v3"
    assert local.urls["api"]["fapiPublic"] == "http://127.0.0.1:9/fapi/v1"
    assert local.urls["api"]["fapiPrivateV2"] == "http://127.0.0.1:9/fapi/v2"
    assert live.timeout == 5_000 and live.enableRateLimit and live.apiKey == "k"
    assert live.options["fetchMarkets"]["types"] == ["linear"]
    assert live.options["fetchCurrencies"] is False  # no sapi call at load_markets


def test_ccxt_exceptions_are_sorted_by_what_the_venue_does_with_them() -> None:
    errors = venue_errors()
    unknown = (ccxt.RequestTimeout, ccxt.ExchangeNotAvailable, ccxt.NetworkError)
    assert all(issubclass(e, errors.timeouts) for e in unknown)
    assert all(issubclass(e, errors.rate_limited) for e in (ccxt.DDoSProtection,))
    assert issubclass(ccxt.RateLimitExceeded, errors.rate_limited)
    assert issubclass(ccxt.OrderNotFound, errors.not_found)
    assert issubclass(ccxt.InsufficientFunds, errors.rejected)
    assert not issubclass(ccxt.ExchangeNotAvailable, errors.rejected)


def test_the_run_settings_build_a_venue_and_paper_has_none() -> None:
    settings = SimpleNamespace(
        venue="testnet",
        binance_api_key=SecretStr("key"),
        binance_api_secret=SecretStr("secret"),
        venue_requests_per_minute=300,
    )
    venue = build_ccxt_venue(settings)
    assert isinstance(venue, CcxtVenue) and venue.budget.per_minute == 300
    assert "testnet" in venue.client.urls["api"]["fapiPublic"]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="paper"):
        build_ccxt_venue(SimpleNamespace(**{**vars(settings), "venue": "paper"}))
    with pytest.raises(ValueError, match="timeout_ms"):
        CcxtClientConfig(timeout_ms=0)


def test_the_keys_are_masked_in_ccxts_request_log_and_in_no_repr(
    double: ExchangeDouble, caplog: pytest.LogCaptureFixture
) -> None:
    """ccxt logs each request's headers at DEBUG, Binance's API key among them: the key and
    the secret of a client built here are masked in those records; nor do the configurations
    that carry them show them."""
    key, secret = "canary-key-5b2e90d1", "canary-secret-77c4a3f0"
    caplog.set_level(logging.DEBUG, logger="ccxt")
    client = build_client(
        CcxtClientConfig("testnet", key, secret, double.base_url, enable_rate_limit=False)
    )
    client.fetch_balance()  # signed: the key goes in a header
    assert double.api_keys[key] >= 1
    requests = [r.getMessage() for r in caplog.records if r.name == "ccxt.base.exchange"]
    assert any("X-MBX-APIKEY" in m and "**********" in m for m in requests), requests
    assert key not in caplog.text and secret not in caplog.text
    gate = LiveGate(True, key, secret, "x")
    shown = repr(CcxtClientConfig("live", key, secret)) + repr(gate)
    assert key not in shown and secret not in shown
