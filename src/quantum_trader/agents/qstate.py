"""The Q-learner's discrete state: regime × volatility bucket × confidence bucket × PnL sign.

A :class:`~quantum_trader.strategy.selector.SelectionContext` maps to one :class:`QState`:

* **regime** — the symbol's regime (BULL / BEAR / SIDEWAYS / VOLATILE), or none during warm-up;
* **volatility bucket** — where ``vol_percentile`` (the regime detector's rank of the short
  volatility in its own history, in [0, 1]) falls among ``vol_edges``: low / mid / high;
* **confidence bucket** — where the ensemble's confidence (the margin of the signal's class over
  the runner-up, 0 when FLAT; rarely above 0.3 on hourly models) falls among
  ``confidence_edges``: below the strategies' entry threshold (0.05), low, high;
* **PnL sign** — the sign of the recent PnL (-, 0, +), 0 within ``pnl_deadband`` of zero.

5 × 3 × 3 × 3 = 135 states with the defaults. A state is stored by its key
(``"BULL|v2|c1|p+"``), and a stored table carries the fingerprint of the state space it was
learnt in (:meth:`QStateConfig.fingerprint`): a table learnt with other bucket edges means
something else, so it is refused rather than read.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.market import Regime
from quantum_trader.strategy.selector import SelectionContext

#: the regime part of a key when no regime is known yet
NO_REGIME = "NONE"
_PNL_SIGNS = {-1: "-", 0: "0", 1: "+"}
_SIGN_OF = {v: k for k, v in _PNL_SIGNS.items()}


def _check_edges(name: str, edges: tuple[float, ...]) -> None:
    if not edges or any(not math.isfinite(e) for e in edges) or list(edges) != sorted(set(edges)):
        raise DomainValidationError(
            "QStateConfig", name, edges, "must be finite, strictly increasing and not empty"
        )


@dataclass(frozen=True, slots=True)
class QStateConfig:
    """Bucket edges of the state space (a value equal to an edge goes to the upper bucket).

    >>> QStateConfig().fingerprint()
    'qstate/1 vol=0.333333,0.666667 conf=0.05,0.15 pnl=0'
    """

    vol_edges: tuple[float, ...] = (1 / 3, 2 / 3)
    confidence_edges: tuple[float, ...] = (0.05, 0.15)
    pnl_deadband: float = 0.0

    def __post_init__(self) -> None:
        _check_edges("vol_edges", self.vol_edges)
        _check_edges("confidence_edges", self.confidence_edges)
        if not (math.isfinite(self.pnl_deadband) and self.pnl_deadband >= 0):
            raise DomainValidationError(
                "QStateConfig", "pnl_deadband", self.pnl_deadband, "must be finite and >= 0"
            )

    def fingerprint(self) -> str:
        """What a stored table must match to be read back with this config."""
        vol = ",".join(f"{e:g}" for e in self.vol_edges)
        conf = ",".join(f"{e:g}" for e in self.confidence_edges)
        return f"qstate/1 vol={vol} conf={conf} pnl={self.pnl_deadband:g}"

    def state_count(self) -> int:
        return (len(Regime) + 1) * (len(self.vol_edges) + 1) * (len(self.confidence_edges) + 1) * 3


@dataclass(frozen=True, slots=True)
class QState:
    """One discrete state. ``regime`` is a :class:`Regime` value or :data:`NO_REGIME`.

    >>> QState("SIDEWAYS", 0, 2, -1).key
    'SIDEWAYS|v0|c2|p-'
    >>> QState.parse('SIDEWAYS|v0|c2|p-')
    QState(regime='SIDEWAYS', vol=0, confidence=2, pnl=-1)
    """

    regime: str
    vol: int
    confidence: int
    pnl: int

    @property
    def key(self) -> str:
        return f"{self.regime}|v{self.vol}|c{self.confidence}|p{_PNL_SIGNS[self.pnl]}"

    @classmethod
    def parse(cls, key: str) -> QState:
        """A state back from its key; a ``ValueError`` naming the key when it is not one."""
        parts = key.split("|")
        regimes = {r.value for r in Regime} | {NO_REGIME}
        if (
            len(parts) != 4
            or parts[0] not in regimes
            or not (parts[1][:1] == "v" and parts[1][1:].isdigit())
            or not (parts[2][:1] == "c" and parts[2][1:].isdigit())
            or parts[3][1:] not in _SIGN_OF
            or parts[3][:1] != "p"
        ):
            raise ValueError(
                f"{key!r} is not a Q-learning state key (REGIME|v<n>|c<n>|p<-0+>, regime one "
                f"of {sorted(regimes)})"
            )
        return cls(parts[0], int(parts[1][1:]), int(parts[2][1:]), _SIGN_OF[parts[3][1:]])

    def fits(self, config: QStateConfig) -> bool:
        """Whether the buckets exist in ``config``'s state space."""
        return self.vol <= len(config.vol_edges) and self.confidence <= len(config.confidence_edges)


def _finite(field: str, value: float, context: SelectionContext) -> float:
    if not math.isfinite(value):
        raise DomainValidationError(
            "SelectionContext",
            field,
            value,
            f"must be finite (Q-learning state of {context.symbol} at {context.time})",
        )
    return value


def encode(context: SelectionContext, config: QStateConfig) -> QState:
    """The discrete state of one selection.

    >>> from quantum_trader.domain.policy import RiskMode
    >>> ctx = SelectionContext("BTCUSDT", 0, Regime.BULL, None, 0.9, 0.08, -12.5, RiskMode.MODERATE)
    >>> encode(ctx, QStateConfig()).key
    'BULL|v2|c1|p-'
    """
    vol = _finite("vol_percentile", context.vol_percentile, context)
    conf = _finite("confidence", context.confidence, context)
    pnl = _finite("recent_pnl", context.recent_pnl, context)
    sign = 0 if abs(pnl) <= config.pnl_deadband else (1 if pnl > 0 else -1)
    return QState(
        context.regime.value if context.regime is not None else NO_REGIME,
        bisect.bisect_right(config.vol_edges, vol),
        bisect.bisect_right(config.confidence_edges, conf),
        sign,
    )
