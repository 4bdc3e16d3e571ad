"""Losing streaks per symbol and the cooldown they start."""

from __future__ import annotations

from quantum_trader.risk.config import RiskConfig


class LossStreaks:
    """Counts consecutive losing trades per symbol; N in a row start a cooldown.

    >>> s = LossStreaks(RiskConfig(max_consecutive_losses=2, cooldown_ms=100))
    >>> s.record("BTCUSDT", -1.0, at=10); s.record("BTCUSDT", -1.0, at=20)
    >>> s.cooldown_until("BTCUSDT")
    120
    >>> s.record("BTCUSDT", 5.0, at=30); s.streak("BTCUSDT")
    0
    """

    def __init__(self, config: RiskConfig) -> None:
        self._config = config
        self._streak: dict[str, int] = {}
        self._until: dict[str, int] = {}

    def record(self, symbol: str, net_pnl: float, *, at: int) -> None:
        if net_pnl >= 0:
            self._streak[symbol] = 0
            return
        n = self._streak.get(symbol, 0) + 1
        if n >= self._config.max_consecutive_losses:
            self._until[symbol] = at + self._config.cooldown_ms
            n = 0  # the cooldown consumed the streak; the next one counts afresh
        self._streak[symbol] = n

    def streak(self, symbol: str) -> int:
        return self._streak.get(symbol, 0)

    def cooldown_until(self, symbol: str) -> int | None:
        return self._until.get(symbol)
