"""Bet sizing by the probability of winning (``QT_BET_SIZING``): meta-labelling's second half.

Under ``QT_ENTRY_RULE=primary`` a strategy's rule picks an entry's side and the ensemble, the
secondary model, filters it through the cost gate (``strategy/cost_gate.py``). This module lets
the same probability size the trade: a sure bet takes the size the base sizer allows, a coin
toss takes nothing, and the fraction in between follows López de Prado's bet sizing from
predicted probabilities (*Advances in Financial Machine Learning*, 2018, ch. 10.3), for two
outcomes:

    z = (p − ½) / √(p (1 − p)),    size = 2 Φ(z) − 1   (0 for p ≤ ½)

with Φ the standard normal distribution function and ``p`` the probability that the entry's
side wins: the ensemble's probability of the entry's direction among the two directions,
``p_side / (p_up + p_down)`` (FLAT, neither barrier nor a move beyond the dead zone, is left
out: it neither wins nor loses the bet). Under triple-barrier labels ``p_UP`` is the
probability that the upper barrier is touched first, so for a long ``p`` is the probability
that the take-profit side is reached before the stop side.

A few values: p = 0.55 → 0.08, 0.6 → 0.16, 0.7 → 0.34, 0.8 → 0.55, 0.9 → 0.82, 0.95 → 0.96
of the base size: a small edge bets little. An entry without a probability (a caller with no signal) keeps the base size, and the
reason says so.
"""

from __future__ import annotations

import math

from quantum_trader.domain.orders import Side
from quantum_trader.domain.signals import Signal
from quantum_trader.strategy.cost_gate import ensemble_probabilities
from quantum_trader.strategy.sizing import PositionSizer, SizingRequest, SizingResult


def win_probability(signal: Signal, side: Side) -> float | None:
    """The ensemble's probability that ``side`` wins: its direction's share of the two
    directional probabilities; None when the ensemble gives neither direction any probability.

    >>> from quantum_trader.domain.signals import Direction, ModelVote
    >>> s = Signal("BTCUSDT", 0, Direction.UP, 0.6, 0.2, (ModelVote("m", 0.2, 0.2, 0.6),))
    >>> round(win_probability(s, Side.BUY), 6), round(win_probability(s, Side.SELL), 6)
    (0.75, 0.25)
    """
    p_down, _, p_up = ensemble_probabilities(signal)
    directional = p_down + p_up
    if not directional > 0:
        return None
    return (p_up if side is Side.BUY else p_down) / directional


def bet_size(p: float) -> float:
    """The fraction of the base size to bet at win probability ``p`` (AFML 10.3, two outcomes).

    >>> [round(bet_size(p), 2) for p in (0.4, 0.5, 0.6, 0.8, 1.0)]
    [0.0, 0.0, 0.16, 0.55, 1.0]
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"bet_size: probability {p!r} is not in [0, 1]")
    if p <= 0.5:
        return 0.0
    if p >= 1.0:
        return 1.0
    z = (p - 0.5) / math.sqrt(p * (1.0 - p))
    return math.erf(z / math.sqrt(2.0))  # = 2 Φ(z) − 1


class BetSizer:
    """``base``'s size times :func:`bet_size` of the request's win probability.

    >>> from quantum_trader.domain.policy import TradingPolicy
    >>> from quantum_trader.strategy.intents import TradeAction, TradeIntent
    >>> from quantum_trader.strategy.sizing import FixedFractionalSizer
    >>> i = TradeIntent("BTCUSDT", 0, TradeAction.ENTRY, Side.BUY, 100.0, "T", "", 0.6, 98.0, 104.0)
    >>> sized = BetSizer(FixedFractionalSizer()).size(
    ...     SizingRequest(i, 10_000.0, TradingPolicy(), win_probability=0.8))
    >>> round(sized.quantity, 2), sized.sizer
    (27.34, 'fixed_fractional×bet')
    """

    def __init__(self, base: PositionSizer) -> None:
        self.base = base
        self.name = f"{base.name}×bet"

    def size(self, request: SizingRequest) -> SizingResult:
        done = self.base.size(request)
        p = request.win_probability
        if p is None:
            return SizingResult(done.quantity, f"{done.reason}; no win probability", self.name)
        scale = bet_size(p)
        return SizingResult(
            done.quantity * scale,
            f"{done.reason}; × {scale:.3f} for win probability {p:.3f}",
            self.name,
        )
