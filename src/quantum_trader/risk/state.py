"""Trading state ACTIVE / REDUCING / HALTED and the circuit breaker that sets it.

* ACTIVE: every order that passes the rules may go (the normal state).
* REDUCING: only orders that reduce an open position pass (an order that would flip the
  position is trimmed to a close).
* HALTED: no order passes; cancels still do (they never reach the pre-trade checks).

The breaker reads equity, the portfolio's peak, the day's loss, the kill switch and whether the
account is flat on every evaluation. It keeps two peaks of its own:

* the **all-time peak**, the reference of HALTED: drawdown from it ≥ ``drawdown_halted``
  latches the halt until :meth:`CircuitBreaker.reset` is called by a person, because a system
  that lost a fifth of its equity should not resume on its own;
* the **breaker peak**, the reference of REDUCING: equal to the all-time peak until the first
  release, then the equity at the last release (and every higher equity after it).

REDUCING by drawdown has hysteresis (it enters at ``drawdown_reducing`` and leaves below
``drawdown_resume``) and a way out that does not need the losses back: once the account has
been flat (no open position) for ``reducing_cooldown_ms`` of engine time while REDUCING, the
breaker **releases** to ACTIVE and re-baselines its peak to the equity at release. Without it a
flat account could never leave REDUCING: its equity does not move, so its drawdown never falls
below ``drawdown_resume``. A release changes only the REDUCING reference: HALTED is still
measured from the all-time peak, and a release while the day's loss is over its limit leaves
the account REDUCING for that reason.

REDUCING by daily loss lasts until the day's PnL recovers above the limit, in practice until the
next UTC day resets it. The kill switch HALTs as long as it is engaged.

An operator's halt reset (:meth:`CircuitBreaker.reset`) is the one thing that moves the
all-time peak down: a person accepted the loss, so both peaks start again from the equity at
the next reading. Without that, a reset at 25 % drawdown would latch again at once.
"""

from __future__ import annotations

from dataclasses import dataclass

# the state and its records are published or stored, so they live in the domain (domain/risk.py)
from quantum_trader.domain.risk import BreakerMemory as BreakerMemory
from quantum_trader.domain.risk import TradingState as TradingState
from quantum_trader.domain.risk import TradingStateChange as TradingStateChange
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.risk.config import RiskConfig


@dataclass(frozen=True, slots=True)
class HealthReading:
    """What the breaker looks at, read from the portfolio view at one engine instant ``at``."""

    equity: float
    #: the portfolio's own running peak (its highest recorded equity)
    peak_equity: float
    daily_loss: float
    kill_switch_engaged: bool
    kill_switch_reason: str = ""
    #: no open position
    flat: bool = False
    at: int = 0


def drawdown(equity: float, peak: float) -> float:
    """Fall of ``equity`` below ``peak`` as a fraction of it (0 without a positive peak).

    >>> drawdown(9_000.0, 10_000.0)
    0.09999999999999998
    """
    return max(0.0, 1 - equity / peak) if peak > 0 else 0.0


class CircuitBreaker:
    """Maps health readings to a trading state: hysteresis, a flat cool-down release from
    REDUCING and a latched halt (see the module docstring).

    >>> b = CircuitBreaker(RiskConfig(reducing_cooldown_ms=10))
    >>> b.assess(HealthReading(10_000.0, 10_000.0, 0.0, False, at=0))[0]
    <TradingState.ACTIVE: 'ACTIVE'>
    >>> b.assess(HealthReading(8_800.0, 10_000.0, 0.0, False, at=1))[0]
    <TradingState.REDUCING: 'REDUCING'>
    >>> b.assess(HealthReading(8_800.0, 10_000.0, 0.0, False, flat=True, at=2))[0]  # flat 0 ms
    <TradingState.REDUCING: 'REDUCING'>
    >>> b.assess(HealthReading(8_800.0, 10_000.0, 0.0, False, flat=True, at=12))[0]  # 10 ms
    <TradingState.ACTIVE: 'ACTIVE'>
    >>> b.breaker_peak, b.all_time_peak, b.releases
    (8800.0, 10000.0, 1)
    >>> b.assess(HealthReading(7_900.0, 10_000.0, 0.0, False, at=13))[0]  # 21 % from all-time
    <TradingState.HALTED: 'HALTED'>
    >>> b.assess(HealthReading(7_900.0, 10_000.0, 0.0, False, flat=True, at=10**9))[0]
    <TradingState.HALTED: 'HALTED'>
    """

    def __init__(
        self,
        config: RiskConfig,
        *,
        halt_latched: bool = False,
        memory: BreakerMemory | None = None,
    ) -> None:
        self._config = config
        self._halt_latched = halt_latched
        self._restored = memory is not None
        self._breaker_peak = memory.breaker_peak if memory is not None else 0.0
        self._all_time_peak = memory.all_time_peak if memory is not None else 0.0
        self._releases = memory.releases if memory is not None else 0
        self._reducing_by_drawdown = memory.reducing_by_drawdown if memory is not None else False
        self._reducing_since = memory.reducing_since if memory is not None else None
        self._flat_since = memory.flat_since if memory is not None else None
        self._at = memory.at if memory is not None else 0
        #: the portfolio's peak at the last reading (None: no reading yet)
        self._portfolio_peak: float | None = None
        self._rebaseline = False

    # --- what it remembers ---------------------------------------------------------------
    @property
    def halt_latched(self) -> bool:
        return self._halt_latched

    @property
    def breaker_peak(self) -> float:
        """The equity REDUCING's drawdown is measured from."""
        return self._breaker_peak

    @property
    def all_time_peak(self) -> float:
        """The equity HALTED's drawdown is measured from."""
        return self._all_time_peak

    @property
    def releases(self) -> int:
        """Releases from REDUCING after the flat cool-down, since the account began."""
        return self._releases

    def memory(self) -> BreakerMemory:
        """What a restart needs to go on where this breaker stands (``at``: last reading)."""
        return BreakerMemory(
            at=self._at,
            breaker_peak=self._breaker_peak,
            all_time_peak=self._all_time_peak,
            releases=self._releases,
            reducing_by_drawdown=self._reducing_by_drawdown,
            reducing_since=self._reducing_since,
            flat_since=self._flat_since,
        )

    def reset(self) -> None:
        """Clear the latched drawdown halt (a person decided to resume): the drawdown REDUCING
        is cleared too, and both peaks start again from the equity of the next reading."""
        self._halt_latched = False
        self._reducing_by_drawdown = False
        self._reducing_since = None
        self._rebaseline = True

    def rebase(self) -> None:
        """The account changed hands (a venue took it over): both peaks start again from the
        equity of the next reading. Unlike :meth:`reset`, a latched halt and a drawdown
        REDUCING stay: only a person clears those."""
        self._rebaseline = True

    # --- assessment ----------------------------------------------------------------------
    def _track_peaks(self, reading: HealthReading) -> None:
        """Raise both peaks to the highest equity seen since the last reading.

        A fresh breaker adopts the portfolio's peak (the account's history); a restored one
        adopts only the portfolio's *new* highs, so that a re-baselined peak is not undone by
        the portfolio's own all-time peak after a restart.
        """
        equity = reading.equity
        if self._rebaseline:
            self._breaker_peak = self._all_time_peak = equity
            self._rebaseline = False
        high = equity
        seen = self._portfolio_peak
        if seen is None:
            if not self._restored:
                high = max(high, reading.peak_equity)
        elif reading.peak_equity > seen:
            high = max(high, reading.peak_equity)
        self._portfolio_peak = (
            reading.peak_equity if seen is None else max(seen, reading.peak_equity)
        )
        self._all_time_peak = max(self._all_time_peak, high)
        self._breaker_peak = max(self._breaker_peak, high)

    def _track_flat(self, reading: HealthReading) -> None:
        if not reading.flat:
            self._flat_since = None
        elif self._flat_since is None:
            self._flat_since = reading.at

    def _release_due(self, at: int) -> bool:
        """Flat for the whole cool-down while REDUCING by drawdown, and no latched halt."""
        if not self._reducing_by_drawdown or self._halt_latched or self._flat_since is None:
            return False
        since = max(self._flat_since, self._reducing_since or self._flat_since)
        return at - since >= self._config.reducing_cooldown_ms

    def assess(self, reading: HealthReading) -> tuple[TradingState, str]:
        cfg = self._config
        at = reading.at
        self._at = at
        self._track_peaks(reading)
        self._track_flat(reading)
        equity = reading.equity
        dd_all = drawdown(equity, self._all_time_peak)
        dd = drawdown(equity, self._breaker_peak)
        if dd_all >= cfg.drawdown_halted:
            self._halt_latched = True
        if dd >= cfg.drawdown_reducing:
            if not self._reducing_by_drawdown:
                self._reducing_since = at
            self._reducing_by_drawdown = True
        elif dd < cfg.drawdown_resume:
            self._reducing_by_drawdown = False
            self._reducing_since = None
        released = ""
        if self._release_due(at):
            hours = cfg.reducing_cooldown_ms / MS_PER_HOUR
            released = (
                f"released from REDUCING after {hours:g} h flat (drawdown {dd:.2%} from breaker "
                f"peak {self._breaker_peak:,.2f}); breaker peak re-baselined to {equity:,.2f}"
            )
            self._breaker_peak = equity
            self._reducing_by_drawdown = False
            self._reducing_since = None
            self._releases += 1
        if reading.kill_switch_engaged:
            return TradingState.HALTED, f"kill switch engaged: {reading.kill_switch_reason}"
        if self._halt_latched:
            return TradingState.HALTED, (
                f"drawdown circuit breaker: drawdown from the all-time peak "
                f"{self._all_time_peak:,.2f} reached >= {cfg.drawdown_halted:.1%} "
                f"(now {dd_all:.2%}); latched until reset by hand"
            )
        if self._reducing_by_drawdown:
            return TradingState.REDUCING, (
                f"drawdown {dd:.2%} from breaker peak {self._breaker_peak:,.2f} >= "
                f"{cfg.drawdown_reducing:.1%} (resumes below {cfg.drawdown_resume:.1%}, or after "
                f"{cfg.reducing_cooldown_ms / MS_PER_HOUR:g} h flat)"
            )
        if reading.daily_loss >= cfg.daily_loss_limit:
            why = f"daily loss {reading.daily_loss:.2%} >= limit {cfg.daily_loss_limit:.1%}"
            return TradingState.REDUCING, f"{released}; {why}" if released else why
        return TradingState.ACTIVE, released or "within limits"
