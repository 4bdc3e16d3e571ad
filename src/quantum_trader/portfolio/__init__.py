"""Portfolio: positions, wallet balance, PnL, fees, funding, margin, equity curve, ledger."""

from quantum_trader.portfolio.ledger import Ledger, LedgerEntry, LedgerKind
from quantum_trader.portfolio.portfolio import Portfolio, PortfolioView, PositionState

__all__ = ["Ledger", "LedgerEntry", "LedgerKind", "Portfolio", "PortfolioView", "PositionState"]
