"""Portfolio: positions, wallet balance, PnL, fees, funding, margin, equity curve, ledger."""

from quantum_trader.portfolio.ledger import Ledger, LedgerEntry, LedgerKind
from quantum_trader.portfolio.portfolio import Portfolio, PositionState

__all__ = ["Ledger", "LedgerEntry", "LedgerKind", "Portfolio", "PositionState"]
