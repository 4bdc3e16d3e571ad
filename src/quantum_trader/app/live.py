"""The live phase's connection to Binance USDT-M: the ccxt client (public market data), its
network errors, the system clock and ``time.sleep``. The phase itself is
``engine/live_phase.py``; only a run that goes live pays ccxt's import (~0.6 s)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from quantum_trader.clock.clock import Clock, WallClock
from quantum_trader.engine.live_source import OhlcvClient, Sleep

EXCHANGE = "Binance USDT-M"


def binance_usdm_client() -> OhlcvClient:
    """The adapter's Binance USDT-M public client, imported here so that only a run that goes
    live pays ccxt's import (~0.6 s)."""
    from quantum_trader.adapters.ccxt_market_data import binance_usdm_public

    return binance_usdm_public()


def ccxt_network_errors() -> tuple[type[BaseException], ...]:
    """What an unreachable exchange raises through ccxt (and below it, the socket layer)."""
    from quantum_trader.adapters.ccxt_market_data import TRANSIENT_ERRORS

    return (*TRANSIENT_ERRORS, OSError)


@dataclass(frozen=True, slots=True)
class LiveConnection:
    """How the live phase reaches the exchange and the time: by default ccxt, the system clock
    and ``time.sleep``; tests give recorded candles and a clock that moves when slept on."""

    name: str = EXCHANGE
    client: Callable[[], OhlcvClient] = binance_usdm_client
    wall: Clock = field(default_factory=WallClock)
    sleep: Sleep = time.sleep
    network_errors: Callable[[], tuple[type[BaseException], ...]] = ccxt_network_errors
