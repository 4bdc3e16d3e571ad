"""A served member slot watched by continuous learning: the champion, and perhaps a challenger.

:class:`WatchedMember` takes the place of a member in its ensemble (same name, so weights and
ledgers kept per model name carry on). On every decision it asks the champion, and the
challenger if there is one, on the very same context, hands both answers to a
:class:`VoteObserver` (the shadow evaluator), and answers the ensemble with

* the champion's vote, unchanged, when there is no challenger or its share is 0 (SHADOW): the
  decision is exactly the one the champion alone makes;
* ``(1 - s) * champion + s * challenger`` class by class when the challenger holds a share
  ``s`` of the slot (CANARY 25 %, 50 %).

A challenger that raises or returns something that is not a vote never reaches the decision:
the champion answers alone and the observer hears of the failure (a guardrail trips).

The slot votes live only: it is not a batch member, so a replay's precomputed votes are not
used for it. Recording a prediction when a batch is prepared (ahead of its decision) and again
if the prepared vote is dropped would make the shadow's bookkeeping depend on the batching;
a live vote per decision costs tens of microseconds for a tree model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from quantum_trader.domain.signals import ModelVote
from quantum_trader.models.ensemble.member import Abstention, Member, VoteContext


class VoteObserver(Protocol):
    """Hears each decision's answers of a watched slot (the shadow evaluator)."""

    def on_votes(
        self,
        slot: WatchedMember,
        symbol: str,
        decided_at: int,
        champion: ModelVote | Abstention,
        challenger: ModelVote | Abstention | None,
        challenger_ns: int,
    ) -> None: ...

    def on_challenger_failure(self, slot: WatchedMember, symbol: str, error: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Challenge:
    """A challenger in a slot: the member, its registry version and its share of the vote."""

    member: Member
    version: int
    share: float  # 0: SHADOW (no say); 0.25, 0.5: CANARY

    def __post_init__(self) -> None:
        if not 0.0 <= self.share < 1.0:
            raise ValueError(f"challenger share {self.share}: must be in [0, 1)")


def blend(champion: ModelVote, challenger: ModelVote, share: float) -> ModelVote:
    """The slot's vote: the two class distributions mixed with the challenger's ``share``.

    >>> blend(ModelVote("m", 0.2, 0.2, 0.6), ModelVote("m", 0.6, 0.2, 0.2), 0.25).p_up
    0.5
    """
    keep = 1.0 - share
    return ModelVote(
        champion.model,
        keep * champion.p_down + share * challenger.p_down,
        keep * champion.p_flat + share * challenger.p_flat,
        keep * champion.p_up + share * challenger.p_up,
        champion.weight,
    )


class WatchedMember:
    """One ensemble slot: the serving champion (a registry version) and an optional challenger.

    ``line`` names the registry line the slot serves (e.g. ``xgb/BTCUSDT/h4``); the rollout
    changes :attr:`challenge` and :attr:`champion` between two decisions, on the engine's thread.
    """

    def __init__(
        self,
        champion: Member,
        champion_version: int | None,
        line: str,
        observer: VoteObserver,
        challenge: Challenge | None = None,
    ) -> None:
        self.name = champion.name
        self.line = line
        self.champion = champion
        self.champion_version = champion_version
        self.challenge = challenge
        self._observer = observer

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        answer = self.champion.vote(symbol, context)
        challenge = self.challenge
        if challenge is None:
            self._observer.on_votes(self, symbol, context.time, answer, None, 0)
            return answer
        started = time.perf_counter_ns()
        try:
            other = challenge.member.vote(symbol, context)
        except (ValueError, ArithmeticError) as exc:  # a vote refuses non-finite probabilities
            self._observer.on_challenger_failure(self, symbol, f"{type(exc).__name__}: {exc}")
            return answer
        elapsed = time.perf_counter_ns() - started
        self._observer.on_votes(self, symbol, context.time, answer, other, elapsed)
        if challenge.share > 0.0 and isinstance(answer, ModelVote) and isinstance(other, ModelVote):
            return blend(answer, other, challenge.share)
        return answer
