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

A SHADOW challenger (share 0) has no say in the decision, so it is not asked inside it: the
slot keeps the decision's context and :meth:`WatchedMember.ask_deferred` asks the challenger
once the decision is made (the pipeline's ``after_decision`` hooks, on the same candle, before
the next one): the decision's latency holds the champion's vote alone, as without a shadow.

Without a challenger the slot keeps its champion's batch path (a replay's votes computed
ahead, ``Ensemble.prepare``) and reports those votes when the batch is finished; a vote that
is later recomputed live (inputs differed) is reported again and replaces the first report.
With a challenger the slot votes live only: the ensemble is told to drop what was prepared
(``Ensemble.drop_prepared``) whenever the challenge changes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from quantum_trader.domain.signals import ModelVote
from quantum_trader.models.ensemble.member import (
    Abstention,
    BatchMember,
    BatchVotes,
    BatchWork,
    Member,
    VoteContext,
    no_batch_votes,
)


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

    >>> round(blend(ModelVote("m", 0.2, 0.2, 0.6), ModelVote("m", 0.6, 0.2, 0.2), 0.25).p_up, 9)
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
        #: decisions a share-0 challenger is still to be asked about: (symbol, context, answer)
        self._deferred: list[tuple[str, VoteContext, ModelVote | Abstention]] = []

    def batch_work(self, symbol: str, contexts: Sequence[VoteContext]) -> BatchWork:
        """The champion's batch votes, reported as they are finished; none with a challenger."""
        champion = self.champion
        if self.challenge is not None or not isinstance(champion, BatchMember):
            return no_batch_votes(len(contexts))
        inner = champion.batch_work(symbol, contexts)
        times = [c.time for c in contexts]

        def finish(output: object) -> BatchVotes:
            votes = inner.finish(output)
            for at, vote in zip(times, votes, strict=True):
                if vote is not None:
                    self._observer.on_votes(self, symbol, at, vote, None, 0)
            return votes

        return BatchWork(inner.compute, finish)

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        answer = self.champion.vote(symbol, context)
        challenge = self.challenge
        if challenge is None:
            self._observer.on_votes(self, symbol, context.time, answer, None, 0)
            return answer
        if challenge.share == 0.0:
            self._deferred.append((symbol, context, answer))
            return answer
        other = self._ask(challenge, symbol, context, answer)
        if isinstance(answer, ModelVote) and isinstance(other, ModelVote):
            return blend(answer, other, challenge.share)
        return answer

    def ask_deferred(self) -> None:
        """Ask the shadow challenger about the decisions made since the last call (see the
        module docstring); the observer hears both answers of each, in decision order."""
        pending, self._deferred = self._deferred, []
        challenge = self.challenge
        if challenge is None:
            return  # it left between the decision and now: nothing to compare
        for symbol, context, answer in pending:
            self._ask(challenge, symbol, context, answer)

    def _ask(
        self,
        challenge: Challenge,
        symbol: str,
        context: VoteContext,
        answer: ModelVote | Abstention,
    ) -> ModelVote | Abstention | None:
        """The challenger's vote on ``context``, timed and reported beside the champion's
        ``answer``; None when it failed (the observer hears of the failure)."""
        started = time.perf_counter_ns()
        try:
            other = challenge.member.vote(symbol, context)
        except (ValueError, ArithmeticError) as exc:  # a vote refuses non-finite probabilities
            self._observer.on_challenger_failure(self, symbol, f"{type(exc).__name__}: {exc}")
            return None
        elapsed = time.perf_counter_ns() - started
        self._observer.on_votes(self, symbol, context.time, answer, other, elapsed)
        return other
