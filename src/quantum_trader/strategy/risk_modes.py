"""Risk modes and the trading policy each one publishes, plus the record of a mode change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from quantum_trader.domain.policy import RiskMode, TradingPolicy

#: The policy of each mode. Leverage and risk per trade grow with the mode; the stop widens a
#: little so that a bolder mode is not stopped out by ordinary noise.
DEFAULT_MODE_POLICIES: Mapping[RiskMode, TradingPolicy] = {
    RiskMode.CONSERVATIVE: TradingPolicy(RiskMode.CONSERVATIVE, 2, 1.0, 0.015, 0.0025),
    RiskMode.MODERATE: TradingPolicy(RiskMode.MODERATE, 5, 3.0, 0.02, 0.01),
    RiskMode.AGGRESSIVE: TradingPolicy(RiskMode.AGGRESSIVE, 8, 5.0, 0.025, 0.015),
    RiskMode.TURBO: TradingPolicy(RiskMode.TURBO, 10, 8.0, 0.03, 0.02),
}

#: Modes from the most to the least cautious; the controller climbs one step at a time.
MODE_ORDER: tuple[RiskMode, ...] = (
    RiskMode.CONSERVATIVE,
    RiskMode.MODERATE,
    RiskMode.AGGRESSIVE,
    RiskMode.TURBO,
)


@dataclass(frozen=True, slots=True)
class ModeChange:
    """A change of risk mode with the reasons and the health that led to it."""

    at: int
    previous: RiskMode | None
    mode: RiskMode
    reasons: tuple[str, ...]
    health: Mapping[str, float]
    policy_version: int
    #: wall-clock time the row was stored (ms), filled by the storage adapter on write and
    #: read; None before that and in rows older than the column. ``at`` is engine time: in a
    #: replay the candle's, so the two tell a replayed change from a live one.
    recorded_at: int | None = field(default=None, compare=False)
    #: who made it (``engine:<run id>``), filled by the storage adapter like ``recorded_at``;
    #: None before that and in rows older than the column
    by: str | None = field(default=None, compare=False)


class ModeJournal(Protocol):
    def record_mode_change(self, change: ModeChange) -> None: ...

    def latest_mode_change(self) -> ModeChange | None: ...
