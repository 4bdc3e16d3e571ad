"""What the sizer is asked about one entry (``strategy/sizing.py`` ``SizingRequest``).

Kept out of ``pipeline.py`` (which is at its size limit): the account's equity and gross
exposure at the marks, the selector's context (what a learned sizer observes: regime,
volatility percentile, confidence, trading state, drawdown) and the symbol's per-candle
volatility (ATR over the close, what volatility targeting sizes on).
"""

from __future__ import annotations

from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.portfolio.portfolio import Portfolio
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
) -> SizingRequest:
    """The request of one entry decision."""
    volatility = market.atr / market.close if market.close > 0 else None
    return SizingRequest(
        intent, portfolio.equity, policy, gross_exposure(portfolio), selection, volatility
    )


def gross_exposure(portfolio: Portfolio) -> float:
    """The notional of all open positions at their marks (the entry price where unmarked)."""
    marks = portfolio.mark_prices()
    return sum(
        abs(p.quantity) * marks.get(s, p.entry_price) for s, p in portfolio.positions().items()
    )
