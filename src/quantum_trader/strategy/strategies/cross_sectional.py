"""Cross-sectional momentum: long the universe's strongest symbols, short its weakest.

Issue 24's cross-sectional configuration (``QT_SELECTOR=fixed:CrossSectional`` with
``QT_FEATURES=universe``). Each symbol's 24-candle return is ranked among the run's symbols
(``xs_mom_rank`` of ``features/universe.py``: 0 the weakest, 1 the strongest, from the previous
candle's cross-section, so the same in any order the symbols' candles arrive). The rule enters
long when a symbol's rank is in the top ``xs_fraction`` of the universe and short when it is in
the bottom ``xs_fraction``; it holds until the rank crosses the middle (0.5), a hysteresis that
keeps a symbol wobbling around the top quarter from churning fees. With equal stop distances
the fixed-fractional sizer gives every position the same notional, so as many longs as shorts
are open at equal size: market-neutral by construction, up to the entries the stops, the risk
engine or the cost gate refuse. Without a rank (fewer than three symbols published, or not the
universe features) it never enters.

Under ``QT_ENTRY_RULE=signal`` the ensemble's direction must agree with the rank; under
``primary`` the rank alone picks the side (the cost gate, when on, filters it).
"""

from __future__ import annotations

from quantum_trader.domain.orders import Side
from quantum_trader.domain.signals import Signal
from quantum_trader.strategy.market_state import MarketState
from quantum_trader.strategy.strategies.base import Strategy, StrategyConfig, signal_side


class CrossSectional(Strategy):
    name = "CrossSectional"

    def __init__(self, config: StrategyConfig | None = None, *, xs_fraction: float = 0.25) -> None:
        super().__init__(config)
        if not 0.0 < xs_fraction <= 0.5:
            raise ValueError(f"CrossSectional: xs_fraction={xs_fraction!r}: in (0, 0.5]")
        self.xs_fraction = xs_fraction

    def rule(self, market: MarketState) -> tuple[Side, str] | None:
        rank = market.momentum_rank
        if rank is None:
            return None
        if rank >= 1.0 - self.xs_fraction:
            return Side.BUY, f"momentum rank {rank:.2f}: among the strongest"
        if rank <= self.xs_fraction:
            return Side.SELL, f"momentum rank {rank:.2f}: among the weakest"
        return None

    def entry(self, signal: Signal, market: MarketState) -> tuple[Side, str] | None:
        chosen = self.rule(market)
        if chosen is None or signal_side(signal) is not chosen[0]:
            return None
        return chosen[0], f"{chosen[1]}, signal {signal.direction}"

    def exit_reason(self, signal: Signal, market: MarketState, position: float) -> str | None:
        rank = market.momentum_rank
        if rank is None:
            return None  # no cross-section this candle: the stop and the target still work
        if position > 0 and rank < 0.5:
            return f"momentum rank {rank:.2f} fell below the middle"
        if position < 0 and rank > 0.5:
            return f"momentum rank {rank:.2f} rose above the middle"
        return None
