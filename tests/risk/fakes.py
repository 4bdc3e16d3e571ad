"""In-memory fakes of the risk engine's ports (real, small implementations; no patching).
The journal is the one shadow accounts use (``risk/memory_journal.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from quantum_trader.risk.kill_switch import KillSwitchState
from quantum_trader.risk.memory_journal import MemoryRiskJournal
from quantum_trader.risk.portfolio_view import OpenPosition


@dataclass
class FakePortfolio:
    """A portfolio the test drives by hand: set equity, positions, prices, candle times."""

    equity_now: float = 10_000.0
    peak: float = 10_000.0
    daily: float = 0.0
    positions: dict[str, OpenPosition] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)
    candle_close: dict[str, int] = field(default_factory=dict)

    def set_equity(self, equity: float) -> None:
        self.equity_now = equity
        self.peak = max(self.peak, equity)

    def equity(self) -> float:
        return self.equity_now

    def peak_equity(self) -> float:
        return self.peak

    def daily_pnl(self) -> float:
        return self.daily

    def open_positions(self) -> Mapping[str, OpenPosition]:
        return dict(self.positions)

    def mark_price(self, symbol: str) -> float | None:
        return self.marks.get(symbol)

    def last_candle_close_time(self, symbol: str) -> int | None:
        return self.candle_close.get(symbol)


MemoryJournal = MemoryRiskJournal


@dataclass
class MemoryKillSwitchStore:
    history: list[KillSwitchState] = field(default_factory=list)

    def latest_kill_switch(self) -> KillSwitchState | None:
        return self.history[-1] if self.history else None

    def append_kill_switch(self, state: KillSwitchState) -> None:
        self.history.append(state)
