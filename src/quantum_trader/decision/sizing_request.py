"""What the sizer is asked about one entry (``strategy/sizing.py`` ``SizingRequest``).

Kept out of ``pipeline.py`` (which is at its size limit): the account's equity and gross
exposure at the marks, the selector's context (what a learned sizer observes: regime,
volatility percentile, confidence, trading state, drawdown) and the symbol's per-candle
volatility (ATR over the close, what volatility targeting sizes on).
"""

from __future__ import annotations

from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.domain.signals import Signal
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.strategy.bet_sizing import win_probability as probability_of_winning
from quantum_trader.strategy.intents import TradeIntent
from quantum_trader.strategy.market_state import MarketState
from quantum_trader.strategy.selector import SelectionContext
from quantum_trader.strategy.sizing import SizingRequest


def sizing_request(
    intent: TradeIntent,
    policy: TradingPolicy,
    portfolio: Portfolio,
    selection: SelectionContext,
    market: MarketState,
    signal: Signal | None = None,
    *,
    win_probability: float | None = None,
) -> SizingRequest:
    """The request of one entry decision. The win probability a bet sizer reads is
    ``win_probability`` when given (meta-labelling's secondary model), else the ensemble's
    from ``signal``."""
    if win_probability is None and signal is not None:
        win_probability = probability_of_winning(signal, intent.side)
    volatility = market.atr / market.close if market.close > 0 else None
    return SizingRequest(
        intent,
        portfolio.equity,
        policy,
        gross_exposure(portfolio),
        selection,
        volatility,
        win_probability,
    )


def gross_exposure(portfolio: Portfolio) -> float:
    """The notional of all open positions at their marks (the entry price where unmarked)."""
    marks = portfolio.mark_prices()
    return sum(
        abs(p.quantity) * marks.get(s, p.entry_price) for s, p in portfolio.positions().items()
    )
