"""The views the decision pipeline offers other modules: the ensemble's weight port driven by the
intelligence modules, and the risk engine's read-only view of the account and latest candles."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from quantum_trader.engine.trader import TradingContext
from quantum_trader.intelligence.service import Intelligence
from quantum_trader.models.ensemble.weights import Weighting
from quantum_trader.risk.portfolio_view import OpenPosition


class IntelligenceWeights:
    """The ensemble's weight port, driven by the intelligence modules on the engine clock."""

    def __init__(self, intelligence: Intelligence, now: Callable[[], int]) -> None:
        self._intelligence = intelligence
        self._now = now

    def weights(self, symbol: str, models: Sequence[str]) -> Weighting:
        if not models:  # every member abstained (warm-up): nothing to weigh
            return Weighting({})
        weights, changes = self._intelligence.weights(symbol, models, self._now())
        return Weighting(weights, tuple(changes))


class PortfolioRiskView:
    """The risk engine's read-only view over the portfolio and the latest candles."""

    def __init__(self, context: TradingContext) -> None:
        self._portfolio = context.portfolio
        self.last_close: dict[str, int] = {}

    def equity(self) -> float:
        return self._portfolio.equity

    def peak_equity(self) -> float:
        return self._portfolio.peak_equity

    def daily_pnl(self) -> float:
        return self._portfolio.daily_pnl

    def open_positions(self) -> Mapping[str, OpenPosition]:
        return {
            s: OpenPosition(p.quantity, p.entry_price)
            for s, p in self._portfolio.positions().items()
            if p.quantity != 0
        }

    def mark_price(self, symbol: str) -> float | None:
        return self._portfolio.mark_prices().get(symbol)

    def last_candle_close_time(self, symbol: str) -> int | None:
        return self.last_close.get(symbol)
