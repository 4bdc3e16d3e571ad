"""Meta strategy controller: health and regime → risk mode → the global trading policy.

It reads health (drawdown, consecutive losses, equity-curve slope, daily PnL) and the
market-wide regime, picks CONSERVATIVE / MODERATE / AGGRESSIVE / TURBO, and publishes that
mode's policy as ``trading.global`` through the policy store, with its reasons. It reacts at
once to ``health.alert`` and re-evaluates on the engine's scheduler.

Stepping down is immediate and may skip levels; stepping up goes one level at a time and only
after ``min_dwell_ms`` in the current mode, so a lucky hour does not jump straight to TURBO.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from quantum_trader.bus import topics
from quantum_trader.bus.policy_store import PolicyStore
from quantum_trader.bus.port import EventBus
from quantum_trader.bus.typed import subscribe_records
from quantum_trader.clock.clock import Clock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.events import AlertSeverity, HealthAlert, RegimeChange, RegimeScope
from quantum_trader.domain.policy import TRADING_POLICY_KEY, RiskMode, TradingPolicy
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.status.registry import StatusRegistry
from quantum_trader.strategy.regime import Regime
from quantum_trader.strategy.risk_modes import (
    DEFAULT_MODE_POLICIES,
    MODE_ORDER,
    ModeChange,
    ModeJournal,
)

MODULE = "meta_strategy_controller"
JOB_NAME = "meta_strategy_controller.evaluate"

#: the most a market-wide regime allows
REGIME_CAP: Mapping[Regime, RiskMode] = {
    Regime.BULL: RiskMode.TURBO,
    Regime.BEAR: RiskMode.AGGRESSIVE,
    Regime.SIDEWAYS: RiskMode.AGGRESSIVE,
    Regime.VOLATILE: RiskMode.MODERATE,
}


@dataclass(frozen=True, slots=True)
class MetaControllerConfig:
    """Thresholds of the controller, with defaults (fractions of equity)."""

    evaluate_interval_ms: int = MS_PER_HOUR
    conservative_drawdown: float = 0.08
    conservative_losses: int = 4
    conservative_daily_loss: float = 0.03
    aggressive_max_drawdown: float = 0.04
    aggressive_max_losses: int = 1
    turbo_max_drawdown: float = 0.02
    #: equity samples (one per evaluation) in the slope window
    slope_window: int = 24
    #: relative equity slope per evaluation that TURBO needs (0.05% per hour by default)
    turbo_min_slope: float = 0.0005
    min_dwell_ms: int = 6 * MS_PER_HOUR
    #: how long a health alert caps the mode (critical → CONSERVATIVE, warning → MODERATE)
    alert_hold_ms: int = 6 * MS_PER_HOUR
    initial_mode: RiskMode = RiskMode.MODERATE
    mode_policies: Mapping[RiskMode, TradingPolicy] = field(
        default_factory=lambda: dict(DEFAULT_MODE_POLICIES)
    )

    def __post_init__(self) -> None:
        missing = [m for m in RiskMode if m not in self.mode_policies]
        if missing:
            raise DomainValidationError(
                "MetaControllerConfig", "mode_policies", sorted(missing), "needs every mode"
            )
        if (
            not 0
            < self.turbo_max_drawdown
            <= self.aggressive_max_drawdown
            < self.conservative_drawdown
        ):
            raise DomainValidationError(
                "MetaControllerConfig",
                "drawdown thresholds",
                (self.turbo_max_drawdown, self.aggressive_max_drawdown, self.conservative_drawdown),
                "need 0 < turbo <= aggressive < conservative",
            )
        if self.slope_window < 2 or self.evaluate_interval_ms <= 0:
            raise DomainValidationError(
                "MetaControllerConfig", "slope_window", self.slope_window, "must be >= 2"
            )


class EquityView(Protocol):
    """The part of the portfolio the controller reads (the risk PortfolioView has it)."""

    def equity(self) -> float: ...

    def peak_equity(self) -> float: ...

    def daily_pnl(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Health:
    drawdown: float
    consecutive_losses: int
    equity_slope: float
    daily_loss: float
    alert: str | None = None
    alert_severity: str | None = None

    def as_dict(self) -> dict[str, float]:
        return {
            "drawdown": self.drawdown,
            "consecutive_losses": float(self.consecutive_losses),
            "equity_slope": self.equity_slope,
            "daily_loss": self.daily_loss,
        }


def _lower(a: RiskMode, b: RiskMode) -> RiskMode:
    return a if MODE_ORDER.index(a) <= MODE_ORDER.index(b) else b


def target_mode(
    health: Health, regime: Regime | None, config: MetaControllerConfig
) -> tuple[RiskMode, list[str]]:
    """The mode health and regime call for, with the reasons (pure).

    >>> cfg = MetaControllerConfig()
    >>> target_mode(Health(0.10, 0, 0.0, 0.0), Regime.BULL, cfg)
    (<RiskMode.CONSERVATIVE: 'CONSERVATIVE'>, ['drawdown 10.00% >= 8.0%'])
    >>> target_mode(Health(0.0, 0, 0.001, 0.0), Regime.BULL, cfg)[0]
    <RiskMode.TURBO: 'TURBO'>
    """
    c = config
    reasons: list[str] = []
    if health.drawdown >= c.conservative_drawdown:
        reasons.append(f"drawdown {health.drawdown:.2%} >= {c.conservative_drawdown:.1%}")
    if health.consecutive_losses >= c.conservative_losses:
        reasons.append(f"{health.consecutive_losses} consecutive losses >= {c.conservative_losses}")
    if health.daily_loss >= c.conservative_daily_loss:
        reasons.append(f"daily loss {health.daily_loss:.2%} >= {c.conservative_daily_loss:.1%}")
    if health.alert_severity == "critical":
        reasons.append(f"critical health alert: {health.alert}")
    if reasons:
        return RiskMode.CONSERVATIVE, reasons
    mode = RiskMode.MODERATE
    if (
        health.drawdown <= c.turbo_max_drawdown
        and health.consecutive_losses == 0
        and health.equity_slope >= c.turbo_min_slope
    ):
        mode = RiskMode.TURBO
        reasons.append(
            f"drawdown {health.drawdown:.2%} <= {c.turbo_max_drawdown:.1%}, no losing streak, "
            f"equity rising {health.equity_slope:.3%}/evaluation"
        )
    elif (
        health.drawdown <= c.aggressive_max_drawdown
        and health.consecutive_losses <= c.aggressive_max_losses
        and health.equity_slope > 0
    ):
        mode = RiskMode.AGGRESSIVE
        reasons.append(
            f"drawdown {health.drawdown:.2%} <= {c.aggressive_max_drawdown:.1%}, equity rising"
        )
    else:
        reasons.append("health neither weak nor strong")
    if regime is not None and _lower(mode, REGIME_CAP[regime]) is not mode:
        mode = REGIME_CAP[regime]
        reasons.append(f"market regime {regime} caps the mode at {mode}")
    if health.alert_severity == "warning" and _lower(mode, RiskMode.MODERATE) is not mode:
        mode = RiskMode.MODERATE
        reasons.append(f"health warning caps the mode at MODERATE: {health.alert}")
    return mode, reasons


def equity_slope(samples: list[float]) -> float:
    """Least-squares slope of equity per sample, relative to mean equity (0 if too few)."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(samples) / n
    if mean_y <= 0:
        return 0.0
    num = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(samples))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den / mean_y


class MetaStrategyController:
    """Chooses the risk mode and publishes its policy; every change journaled with reasons."""

    def __init__(
        self,
        *,
        config: MetaControllerConfig,
        portfolio: EquityView,
        store: PolicyStore,
        journal: ModeJournal,
        clock: Clock,
        status: StatusRegistry | None = None,
    ) -> None:
        self._config = config
        self._portfolio = portfolio
        self._store = store
        self._journal = journal
        self._clock = clock
        self._equity: deque[float] = deque(maxlen=config.slope_window)
        self._losses = 0
        self._regime: Regime | None = None
        self._alert: tuple[str, str, int] | None = None  # (severity, message, until)
        last = journal.latest_mode_change()
        self._mode: RiskMode | None = None if last is None else last.mode
        self._since = 0 if last is None else last.at
        self.last_reasons: tuple[str, ...] = () if last is None else last.reasons
        self._handle = (
            status.register(MODULE, enabled=True, reason="rule-based risk modes")
            if status is not None
            else None
        )

    @property
    def mode(self) -> RiskMode:
        return self._mode if self._mode is not None else self._config.initial_mode

    # --- inputs ---------------------------------------------------------------------------
    def attach(self, bus: EventBus) -> None:
        """Follow health alerts (react at once), closed trades and the market regime."""
        subscribe_records(bus, topics.HEALTH_ALERT, self._on_alert)
        subscribe_records(bus, topics.TRADE_CLOSED, self._on_trade)
        subscribe_records(bus, topics.REGIME_CHANGED, self._on_regime)

    def start(self, scheduler: Scheduler, *, start_at: int) -> None:
        """Publish the current mode's policy if none is in force, and schedule evaluations."""
        if self._mode is None:
            self._change(self._config.initial_mode, ["initial mode"], self._health(start_at))
        scheduler.every(
            JOB_NAME, self._config.evaluate_interval_ms, self._scheduled, start_at=start_at
        )

    def record_trade(self, net_pnl: float) -> None:
        self._losses = self._losses + 1 if net_pnl < 0 else 0

    @property
    def market_regime(self) -> Regime | None:
        """The market-wide regime the controller last heard of (``regime.changed``)."""
        return self._regime

    def set_market_regime(self, regime: Regime | None) -> None:
        self._regime = regime

    def _on_trade(self, trade: Trade) -> None:
        self.record_trade(trade.net_pnl)

    def _on_regime(self, change: RegimeChange) -> None:
        if change.scope is RegimeScope.MARKET:
            self.set_market_regime(change.regime)

    def _on_alert(self, alert: HealthAlert) -> None:
        """A critical or warning alert caps the mode for ``alert_hold_ms``; any alert re-evaluates."""
        now = self._clock.now()
        if alert.severity is not AlertSeverity.INFO:
            self._alert = (alert.severity.value, alert.message, now + self._config.alert_hold_ms)
        if self._handle is not None:
            self._handle.count("alerts")
        self.evaluate(now)

    def _scheduled(self, at: int) -> None:
        self._equity.append(self._portfolio.equity())
        self.evaluate(at)

    # --- decision -------------------------------------------------------------------------
    def _health(self, now: int) -> Health:
        equity = self._portfolio.equity()
        peak = self._portfolio.peak_equity()
        daily = self._portfolio.daily_pnl()
        start = equity - daily
        alert = self._alert if self._alert is not None and now < self._alert[2] else None
        return Health(
            drawdown=max(0.0, 1 - equity / peak) if peak > 0 else 0.0,
            consecutive_losses=self._losses,
            equity_slope=equity_slope(list(self._equity)),
            daily_loss=-daily / start if start > 0 and daily < 0 else 0.0,
            alert=None if alert is None else alert[1],
            alert_severity=None if alert is None else alert[0],
        )

    def evaluate(self, now: int) -> RiskMode:
        """Re-assess health and regime; change mode (and publish its policy) if called for."""
        health = self._health(now)
        target, reasons = target_mode(health, self._regime, self._config)
        current = self.mode
        if self._handle is not None:
            self._handle.count("evaluations")
        idx_now, idx_target = MODE_ORDER.index(current), MODE_ORDER.index(target)
        if idx_target < idx_now:
            self._change(target, reasons, health)
        elif idx_target > idx_now and now - self._since >= self._config.min_dwell_ms:
            step = MODE_ORDER[idx_now + 1]
            note = [] if step is target else [f"one step towards {target}"]
            self._change(step, [*reasons, *note], health)
        return self.mode

    def _change(self, mode: RiskMode, reasons: list[str], health: Health) -> None:
        now = self._clock.now()
        policy = self._config.mode_policies[mode]
        previous = self._mode
        text = f"{previous or '-'} → {mode}: " + "; ".join(reasons)
        version = self._store.set(TRADING_POLICY_KEY, policy, by=MODULE, reason=text)
        change = ModeChange(now, previous, mode, tuple(reasons), health.as_dict(), version)
        self._journal.record_mode_change(change)
        self._mode = mode
        self._since = now
        self.last_reasons = tuple(reasons)
        if self._handle is not None:
            self._handle.count("mode_changes")
