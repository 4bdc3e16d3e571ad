"""What decided an order: a typed reference that travels with the order and with the trade it
opens, so that whoever learns from a trade (the RL agents, an A/B experiment, the shadow
evaluator) knows which strategy, selector, sizer and member versions made it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quantum_trader.domain.signals import Signal


@dataclass(frozen=True, slots=True)
class DecisionRef:
    """One decision of the decision path.

    ``decision_id`` is ``<symbol>@<close time>``: one decision per symbol and closed candle, the
    same in every replay of the same candles. ``members`` names each member that voted, with
    the registry version it ran (``"xgb@3"``; the bare name when unversioned). ``regime`` is the
    symbol's regime the strategy was chosen in ("" when none was known yet): the per-strategy
    expectancy is kept by regime (``strategy/expectancy.py``). ``votes`` holds each member's vote
    in ``members``' order, ``(p_down, p_flat, p_up, weight)`` with the weight the ensemble gave
    it, and ``signal`` the ensemble's verdict ``(direction, probability, confidence, agreeing)``:
    the decision trace shows them (both empty in references stored before they were kept).

    >>> ref = DecisionRef("BTCUSDT@1710774000000", "MeanReversion", "regime_rules",
    ...                   "fixed_fractional", ("xgb@1", "lgbm@1"), "SIDEWAYS")
    >>> DecisionRef.from_dict(ref.to_dict()) == ref
    True
    """

    decision_id: str
    strategy: str
    selector: str
    sizer: str
    members: tuple[str, ...] = ()
    regime: str = ""
    votes: tuple[tuple[float, float, float, float], ...] = ()
    signal: tuple[str, float, float, int] | None = None

    def symbol_and_time(self) -> tuple[str, int] | None:
        """The symbol and close time its ``decision_id`` names; None when the id is not
        ``<symbol>@<time>``.

        >>> DecisionRef("BTCUSDT@1710774000000", "Neutral", "r", "s").symbol_and_time()
        ('BTCUSDT', 1710774000000)
        """
        symbol, _, at = self.decision_id.rpartition("@")
        if not symbol or not at.lstrip("-").isdigit():
            return None
        return symbol, int(at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "strategy": self.strategy,
            "selector": self.selector,
            "sizer": self.sizer,
            "members": list(self.members),
            "regime": self.regime,
            "votes": [list(v) for v in self.votes],
            "signal": None if self.signal is None else list(self.signal),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DecisionRef:
        return cls(
            str(raw["decision_id"]),
            str(raw["strategy"]),
            str(raw["selector"]),
            str(raw["sizer"]),
            tuple(str(m) for m in raw["members"]),
            str(raw.get("regime", "")),  # stored before issue 16 without it
            tuple(_vote(v) for v in raw.get("votes", ())),  # stored before issue 20 without
            _signal(raw.get("signal")),
        )


def votes_of(
    signal: Signal,
) -> tuple[tuple[tuple[float, float, float, float], ...], tuple[str, float, float, int]]:
    """A signal's votes and verdict as a :class:`DecisionRef` keeps them."""
    votes = tuple((v.p_down, v.p_flat, v.p_up, v.weight) for v in signal.votes)
    verdict = (signal.direction.value, signal.probability, signal.confidence, signal.agreeing)
    return votes, verdict


def _vote(raw: Any) -> tuple[float, float, float, float]:
    down, flat, up, weight = (float(x) for x in raw)
    return down, flat, up, weight


def _signal(raw: Any) -> tuple[str, float, float, int] | None:
    if raw is None:
        return None
    direction, probability, confidence, agreeing = raw
    return str(direction), float(probability), float(confidence), int(agreeing)


def ref_or_none(raw: Mapping[str, Any] | None) -> DecisionRef | None:
    """A stored reference back (None stays None: orders and trades without a decision)."""
    return None if raw is None else DecisionRef.from_dict(raw)
