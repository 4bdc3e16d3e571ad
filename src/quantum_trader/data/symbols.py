"""Symbol names: the store's ``BTCUSDT`` form, ccxt's ``BTC/USDT:USDT``, and the synthetic mark."""

from __future__ import annotations

import re

from quantum_trader.domain.errors import DataError

#: every generated (not real) symbol starts with this, so any output using it says so
SYNTHETIC_PREFIX = "SYN"
_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")
_QUOTES = ("USDT", "USDC", "BUSD")


def check_symbol(symbol: str) -> str:
    """The symbol if it is a store symbol (upper-case letters and digits), else DataError."""
    if not _SYMBOL.match(symbol):
        raise DataError(f"symbol {symbol!r}: expected upper-case letters/digits like BTCUSDT")
    return symbol


def is_synthetic(symbol: str) -> bool:
    return symbol.startswith(SYNTHETIC_PREFIX)


def synthetic_symbol(name: str) -> str:
    """``BTCUSDT`` → ``SYNBTCUSDT`` (unchanged if already marked).

    >>> synthetic_symbol("BTCUSDT"), synthetic_symbol("SYNBTCUSDT")
    ('SYNBTCUSDT', 'SYNBTCUSDT')
    """
    return name if is_synthetic(name) else SYNTHETIC_PREFIX + check_symbol(name)


def to_ccxt_perp(symbol: str) -> str:
    """The ccxt unified name of a linear perpetual.

    >>> to_ccxt_perp("BTCUSDT")
    'BTC/USDT:USDT'
    """
    check_symbol(symbol)
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return f"{symbol[: -len(quote)]}/{quote}:{quote}"
    raise DataError(f"symbol {symbol!r}: no known quote currency ({', '.join(_QUOTES)})")
