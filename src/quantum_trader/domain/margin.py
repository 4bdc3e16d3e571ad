"""Isolated-margin math: initial and maintenance margin, liquidation price.

One maintenance tier per symbol (a simplification of Binance's tier table, documented in
docs/execution.md). With isolated margin ``M`` on a position of ``q`` units entered at ``E``:

* long is liquidated when ``M + q (P − E) = q P mmr``  →  ``P = (q E − M) / (q (1 − mmr))``
* short is liquidated when ``M + q (E − P) = q P mmr``  →  ``P = (q E + M) / (q (1 + mmr))``

With ``M = q E / L`` these reduce to ``E (1 − 1/L) / (1 − mmr)`` and ``E (1 + 1/L) / (1 + mmr)``.
"""

from __future__ import annotations


def initial_margin(quantity: float, price: float, leverage: float) -> float:
    """Margin locked by a position of ``quantity`` at ``price``.

    >>> initial_margin(2.0, 100.0, 10.0)
    20.0
    """
    return abs(quantity) * price / leverage


def liquidation_price(quantity: float, entry: float, margin: float, mmr: float) -> float:
    """The mark price at which the isolated margin falls to the maintenance margin.

    ``quantity`` is signed. Returns 0.0 for a long that cannot be liquidated (margin ≥ notional).

    >>> round(liquidation_price(1.0, 100.0, 10.0, 0.004), 6)  # 10x long
    90.361446
    >>> round(liquidation_price(-1.0, 100.0, 10.0, 0.004), 6)  # 10x short
    109.561753
    """
    q = abs(quantity)
    if quantity > 0:
        return max((q * entry - margin) / (q * (1.0 - mmr)), 0.0)
    if quantity < 0:
        return (q * entry + margin) / (q * (1.0 + mmr))
    return 0.0
