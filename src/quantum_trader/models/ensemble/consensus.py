"""The consensus rule, as a pure function of the votes.

1. Soft vote: the weighted mean of the members' [p_down, p_flat, p_up].
2. A member *agrees* on UP (DOWN) when UP (DOWN) is its most probable class and its probability
   is at least ``threshold``.
3. The signal is directional only when at least ``min_consensus`` members agree on the same
   direction; with agreement on both sides (possible when ``min_consensus`` is small) the side
   with more agreeing members wins, then the higher mean probability.
4. ``probability`` is the mean probability of the signal's class; ``confidence`` its margin over
   the next most probable class (0 when FLAT). Abstaining or disabled members do not vote and
   are never replaced: if fewer members vote than ``min_consensus``, the signal is FLAT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from quantum_trader.domain.signals import Direction, ModelVote


@dataclass(frozen=True, slots=True)
class Consensus:
    direction: Direction
    probability: float
    confidence: float
    agreeing: int
    mean: tuple[float, float, float]  # weighted p_down, p_flat, p_up
    reason: str


def consensus(votes: Sequence[ModelVote], min_consensus: int, threshold: float) -> Consensus:
    """Apply the rule to weighted votes (``ModelVote.weight``).

    >>> up = ModelVote("a", 0.1, 0.2, 0.7)
    >>> consensus([up, ModelVote("b", 0.2, 0.2, 0.6)], 2, 0.5).direction
    <Direction.UP: 'UP'>
    >>> consensus([up, ModelVote("b", 0.6, 0.2, 0.2)], 2, 0.5).direction
    <Direction.FLAT: 'FLAT'>
    """
    if min_consensus < 1:
        raise ValueError(f"min_consensus={min_consensus}: must be >= 1")
    total = sum(v.weight for v in votes)
    if not votes or total <= 0:
        why = "no member voted" if not votes else "every voting member has weight 0"
        return Consensus(Direction.FLAT, 0.0, 0.0, 0, (0.0, 0.0, 0.0), why)
    # the weighted sums in vote order, one pass (the same additions as a sum() per class)
    sum_down = sum_flat = sum_up = 0.0
    up = down = 0
    for v in votes:
        w = v.weight
        sum_down += w * v.p_down
        sum_flat += w * v.p_flat
        sum_up += w * v.p_up
        side = v.direction
        if side is Direction.UP and v.p_up >= threshold:
            up += 1
        elif side is Direction.DOWN and v.p_down >= threshold:
            down += 1
    p_down, p_flat, p_up = sum_down / total, sum_flat / total, sum_up / total
    direction, agreeing, index = (
        (Direction.UP, up, 2) if (up, p_up) >= (down, p_down) else (Direction.DOWN, down, 0)
    )
    mean3 = (p_down, p_flat, p_up)
    if len(votes) < min_consensus:
        return Consensus(
            Direction.FLAT,
            p_flat,
            0.0,
            agreeing,
            mean3,
            f"only {len(votes)} member(s) voted; min consensus is {min_consensus}",
        )
    if agreeing < min_consensus:
        return Consensus(
            Direction.FLAT,
            p_flat,
            0.0,
            agreeing,
            mean3,
            f"{agreeing} member(s) agree on {direction} at p >= {threshold}; "
            f"min consensus is {min_consensus}",
        )
    p = mean3[index]
    margin = max(p - max(mean3[k] for k in range(3) if k != index), 0.0)
    return Consensus(
        direction,
        min(max(p, 0.0), 1.0),
        min(margin, 1.0),
        agreeing,
        mean3,
        f"{agreeing} member(s) agree on {direction}",
    )
