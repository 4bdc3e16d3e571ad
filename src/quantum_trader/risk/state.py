"""Trading state ACTIVE / REDUCING / HALTED and the circuit breaker that sets it.

* ACTIVE: every order that passes the rules may go.
* REDUCING: only orders that reduce an open position pass (an order that would flip the
  position is trimmed to a close).
* HALTED: no order passes; cancels still do (they never reach the pre-trade checks).

The breaker reads drawdown and the day's loss on every evaluation. REDUCING by drawdown has
hysteresis (it enters at ``drawdown_reducing`` and leaves below ``drawdown_resume``); REDUCING by
daily loss lasts until the day's PnL recovers above the limit, in practice until the next UTC
day resets it; HALTED by drawdown latches until :meth:`CircuitBreaker.reset` is called by hand,
because a system that lost a fifth of its equity should not resume on its own. The kill switch
HALTs as long as it is engaged.
"""

from __future__ import annotations

from dataclasses import dataclass

# the state and its change records are published, so they live in the domain (domain/risk.py)
from quantum_trader.domain.risk import TradingState as TradingState
from quantum_trader.domain.risk import TradingStateChange as TradingStateChange
from quantum_trader.risk.config import RiskConfig


@dataclass(frozen=True, slots=True)
class HealthReading:
    """What the breaker looks at, computed from the portfolio view at one instant."""

    drawdown: float
    daily_loss: float
    kill_switch_engaged: bool
    kill_switch_reason: str = ""


class CircuitBreaker:
    """Maps health readings to a trading state, with hysteresis and a latched halt.

    >>> b = CircuitBreaker(RiskConfig())
    >>> b.assess(HealthReading(0.12, 0.0, False))[0]
    <TradingState.REDUCING: 'REDUCING'>
    >>> b.assess(HealthReading(0.08, 0.0, False))[0]  # above drawdown_resume: still reducing
    <TradingState.REDUCING: 'REDUCING'>
    >>> b.assess(HealthReading(0.05, 0.0, False))[0]
    <TradingState.ACTIVE: 'ACTIVE'>
    >>> b.assess(HealthReading(0.25, 0.0, False))[0]
    <TradingState.HALTED: 'HALTED'>
    >>> b.assess(HealthReading(0.0, 0.0, False))[0]  # latched
    <TradingState.HALTED: 'HALTED'>
    """

    def __init__(self, config: RiskConfig, *, halt_latched: bool = False) -> None:
        self._config = config
        self._halt_latched = halt_latched
        self._reducing_by_drawdown = False

    @property
    def halt_latched(self) -> bool:
        return self._halt_latched

    def reset(self) -> None:
        """Clear the latched drawdown halt (a person decided to resume)."""
        self._halt_latched = False
        self._reducing_by_drawdown = False

    def assess(self, reading: HealthReading) -> tuple[TradingState, str]:
        cfg = self._config
        dd = reading.drawdown
        if dd >= cfg.drawdown_halted:
            self._halt_latched = True
        if dd >= cfg.drawdown_reducing:
            self._reducing_by_drawdown = True
        elif dd < cfg.drawdown_resume:
            self._reducing_by_drawdown = False
        if reading.kill_switch_engaged:
            return TradingState.HALTED, f"kill switch engaged: {reading.kill_switch_reason}"
        if self._halt_latched:
            return TradingState.HALTED, (
                f"drawdown circuit breaker: drawdown reached >= {cfg.drawdown_halted:.1%} "
                f"(now {dd:.2%}); latched until reset by hand"
            )
        if self._reducing_by_drawdown:
            return TradingState.REDUCING, (
                f"drawdown {dd:.2%} >= {cfg.drawdown_reducing:.1%} "
                f"(resumes below {cfg.drawdown_resume:.1%})"
            )
        if reading.daily_loss >= cfg.daily_loss_limit:
            return TradingState.REDUCING, (
                f"daily loss {reading.daily_loss:.2%} >= limit {cfg.daily_loss_limit:.1%}"
            )
        return TradingState.ACTIVE, "within limits"
