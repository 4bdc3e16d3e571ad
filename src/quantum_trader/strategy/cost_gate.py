"""Cost-aware entry: open a position only where the expected edge pays for the trade.

The members predict the label ``horizon`` candles ahead as three calibrated probabilities
(DOWN, FLAT, UP). What a move of each class is worth is measured, not assumed: per symbol, the
gate keeps the forward returns over the horizon of the recent past (every one known at the time:
the return from the close ``horizon`` candles ago to this close), split by the class each turned
out to be, and their means ``m_DOWN``, ``m_FLAT``, ``m_UP``. The class is the label's: by
default the return's own sign beyond the dead zone; under triple-barrier labels the caller
passes the barrier label of the candle the return starts at (``observe(..., outcome)``), so
``m_UP`` is the mean forward return of the candles whose upper barrier was touched first, and so
on (still the close-to-close return over the horizon, not the return at the barrier: the gate
prices holding a position over the horizon). The expected return of holding a position of side
``s`` (+1 long, -1 short) over the horizon is then

    edge = s · (p_DOWN · m_DOWN + p_FLAT · m_FLAT + p_UP · m_UP)

and the entry passes only when ``edge - cost >= margin``, where cost is the round trip at the
taker fee and the slippage (both sides) plus the funding the position would pay over the
horizon at the last settled rate (a funding *income* is not counted: the gate never opens a
trade for the funding). With probabilities no better than the class prior, the edge is about
the unconditional drift, which is far below a round trip: the gate then keeps the system flat,
the normal outcome when the models have no skill.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from quantum_trader.domain import checks
from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.orders import Side
from quantum_trader.domain.signals import Signal

#: funding settles every 8 hours on Binance USDT-M perpetuals
FUNDING_INTERVAL_HOURS = 8.0


@dataclass(frozen=True, slots=True)
class EntryCostConfig:
    """What an entry costs and how much edge it must show on top.

    >>> EntryCostConfig(taker_fee=0.0005, slippage_bps=1.0, horizon_hours=4).round_trip
    0.0012
    """

    taker_fee: float
    slippage_bps: float
    horizon_hours: float
    #: what the expected edge must exceed the costs by (basis points of notional)
    margin_bps: float = 5.0
    #: forward returns kept per symbol for the class means (720 = 30 days of hourly candles)
    window: int = 720
    #: fewer known forward returns of a class than this: the gate refuses (no measured move)
    min_per_class: int = 20

    def __post_init__(self) -> None:
        name = "EntryCostConfig"
        checks.non_negative(name, "taker_fee", self.taker_fee)
        checks.non_negative(name, "slippage_bps", self.slippage_bps)
        checks.positive(name, "horizon_hours", self.horizon_hours)
        checks.non_negative(name, "margin_bps", self.margin_bps)
        if self.window < 3 * self.min_per_class or self.min_per_class < 1:
            raise DomainValidationError(
                name, "window", self.window, f"must be >= 3 × min_per_class ({self.min_per_class})"
            )

    @property
    def round_trip(self) -> float:
        """Fees and slippage of opening and closing, as a fraction of notional."""
        return round(2 * (self.taker_fee + self.slippage_bps / 10_000), 12)


@dataclass(frozen=True, slots=True)
class CostVerdict:
    passed: bool
    edge: float  # expected return of the position over the horizon
    cost: float  # round trip + funding over the horizon
    reason: str


class _Moves:
    """One symbol's recent forward returns by the class they turned out to be."""

    __slots__ = ("by_class", "dead_zone", "sums")

    def __init__(self, window: int, dead_zone: float) -> None:
        self.dead_zone = dead_zone
        self.by_class: tuple[deque[float], deque[float], deque[float]] = (
            deque(maxlen=window),
            deque(maxlen=window),
            deque(maxlen=window),
        )
        self.sums = [0.0, 0.0, 0.0]

    def add(self, forward_return: float, outcome: int | None) -> None:
        k = outcome
        if k is None:
            r, dead_zone = forward_return, self.dead_zone
            k = 2 if r > dead_zone else 0 if r < -dead_zone else 1
        kept = self.by_class[k]
        if len(kept) == kept.maxlen:
            self.sums[k] -= kept[0]
        kept.append(forward_return)
        self.sums[k] += forward_return


class EntryCostGate:
    """Measures each symbol's move sizes and checks entries against their costs.

    >>> from quantum_trader.domain.signals import Direction, ModelVote
    >>> gate = EntryCostGate(EntryCostConfig(0.0005, 1.0, 4, min_per_class=1, window=3), 0.001)
    >>> for r in (0.02, -0.02, 0.0):
    ...     gate.observe("BTCUSDT", r)
    >>> sure = Signal("BTCUSDT", 0, Direction.UP, 0.9, 0.8, (ModelVote("m", 0.05, 0.05, 0.9),))
    >>> gate.assess(sure, Side.BUY, funding_rate=0.0).passed  # edge 1.7 % > 0.12 % + 5 bp
    True
    >>> unsure = Signal("BTCUSDT", 0, Direction.UP, 0.4, 0.05, (ModelVote("m", 0.35, 0.25, 0.4),))
    >>> gate.assess(unsure, Side.BUY, funding_rate=0.0).passed  # edge 0.1 %: below the costs
    False
    """

    def __init__(self, config: EntryCostConfig, dead_zone: float) -> None:
        self.config = config
        self.dead_zone = dead_zone
        self._moves: dict[str, _Moves] = {}
        self.rejected = 0

    def observe(self, symbol: str, forward_return: float, outcome: int | None = None) -> None:
        """A forward return over the horizon that has just become known, and the class it
        counts in: ``outcome`` (DOWN=0, FLAT=1, UP=2) when the label is not the return's sign
        (a triple barrier), else None: the return's sign beyond the dead zone."""
        if outcome not in (None, 0, 1, 2):
            raise ValueError(f"EntryCostGate.observe({symbol}): outcome={outcome!r}: 0, 1 or 2")
        moves = self._moves.get(symbol)
        if moves is None:
            moves = self._moves[symbol] = _Moves(self.config.window, self.dead_zone)
        moves.add(forward_return, outcome)

    def class_means(self, symbol: str) -> tuple[float, float, float] | None:
        """Mean forward return of the DOWN, FLAT and UP outcomes; None while too few are known."""
        moves = self._moves.get(symbol)
        if moves is None:
            return None
        counts = [len(kept) for kept in moves.by_class]
        if min(counts) < self.config.min_per_class:
            return None
        return (
            moves.sums[0] / counts[0],
            moves.sums[1] / counts[1],
            moves.sums[2] / counts[2],
        )

    def assess(self, signal: Signal, side: Side, *, funding_rate: float) -> CostVerdict:
        """Whether an entry of ``side`` on ``signal`` is expected to pay for itself."""
        cfg = self.config
        funding = max(0.0, side.sign * funding_rate) * cfg.horizon_hours / FUNDING_INTERVAL_HOURS
        cost = cfg.round_trip + funding
        means = self.class_means(signal.symbol)
        if means is None:
            self.rejected += 1
            return CostVerdict(False, 0.0, cost, "too few known moves to price the edge")
        p_down, p_flat, p_up = ensemble_probabilities(signal)
        expected = p_down * means[0] + p_flat * means[1] + p_up * means[2]
        edge = side.sign * expected
        passed = edge - cost >= cfg.margin_bps / 10_000
        if not passed:
            self.rejected += 1
        verdict = "covers" if passed else "does not cover"
        return CostVerdict(
            passed,
            edge,
            cost,
            f"expected edge {edge:+.3%} {verdict} costs {cost:.3%} + margin "
            f"{cfg.margin_bps:g} bp over {cfg.horizon_hours:g} h",
        )


def ensemble_probabilities(signal: Signal) -> tuple[float, float, float]:
    """The weighted mean of the members' (DOWN, FLAT, UP) probabilities: the soft vote the
    consensus rule reads (``models/ensemble/consensus.py``)."""
    total = sum(v.weight for v in signal.votes)
    if total <= 0:
        return (0.0, 1.0, 0.0)
    return (
        sum(v.weight * v.p_down for v in signal.votes) / total,
        sum(v.weight * v.p_flat for v in signal.votes) / total,
        sum(v.weight * v.p_up for v in signal.votes) / total,
    )
