"""The ensemble: ask every configured member, weight the votes, apply the consensus rule."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from quantum_trader.domain.signals import ModelVote, Signal
from quantum_trader.models.ensemble.consensus import consensus
from quantum_trader.models.ensemble.member import (
    Abstention,
    BatchMember,
    BatchWork,
    Member,
    MemberId,
    VoteContext,
    no_batch_votes,
)
from quantum_trader.models.ensemble.weights import EqualWeights, WeightProvider
from quantum_trader.status.registry import ModuleHandle, ModuleState


@dataclass(frozen=True, slots=True)
class EnsembleConfig:
    models: tuple[str, ...]
    min_consensus: int = 2
    threshold: float = 0.4  # a member agrees only with p(direction) >= threshold

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("EnsembleConfig.models is empty: enable at least one model")
        if not 1 <= self.min_consensus <= len(self.models):
            raise ValueError(
                f"EnsembleConfig.min_consensus={self.min_consensus}: must be between 1 and "
                f"{len(self.models)} (the enabled models {list(self.models)})"
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"EnsembleConfig.threshold={self.threshold}: must be in [0, 1]")


#: the upper bounds (ns, inclusive) of the buckets each member's live vote times are counted
#: in: ``/metrics`` exports them as the histogram ``qt_model_vote_seconds``. The span covers
#: a tree model's tens of µs to a forecaster's tens of ms; a vote above the last bound is
#: only in the total count (``live_votes.<member>``, the +Inf bucket)
VOTE_TIME_BOUNDS_NS: tuple[int, ...] = (
    50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
    25_000_000, 50_000_000, 100_000_000,
)  # fmt: skip


#: what every bucket counter's name starts with (``vote_bucket_counter``)
VOTE_BUCKET_PREFIX = "live_vote_le_"


def vote_bucket_counter(bound_ns: int, member: str) -> str:
    """The status counter of ``member``'s live votes that took more than the next lower
    bound and at most ``bound_ns`` (one bucket, not cumulative: a vote bumps one counter).

    >>> vote_bucket_counter(2_500_000, "nhits")
    'live_vote_le_2500us.nhits'
    """
    return f"{VOTE_BUCKET_PREFIX}{bound_ns // 1000}us.{member}"


_Prepared = ModelVote | Abstention | None
#: an executor's ``submit``: runs a batch's model calls elsewhere, returns their future
Submit = Callable[[Callable[[], list[Any]]], "Future[list[Any]]"]


@dataclass(frozen=True, slots=True)
class _Chunk:
    """One :meth:`Ensemble.prepare` call: its contexts' times and input digests, each
    member's work, and the future of their model calls (None: run them when stored)."""

    first_time: int
    inputs: list[tuple[int, bytes]]
    works: list[BatchWork]
    outputs: Future[list[Any]] | None


def _compute_all(works: Sequence[BatchWork]) -> list[Any]:
    """Every member's model call of one chunk (what a worker thread runs)."""
    return [work.compute() for work in works]


def _input_digest(context: VoteContext) -> bytes:
    """A 128-bit digest of the context's feature row and window, bit for bit (NaNs included).

    Prepared votes keep this instead of their inputs: a replay's windows would otherwise hold
    ~1 MB per symbol-month until used. Equal digests mean equal inputs, short of a BLAKE2b
    collision."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (context.features, context.window):
        if array is None:
            digest.update(b"none")
            continue
        if array.dtype != np.float64 or not array.flags.c_contiguous:
            array = np.ascontiguousarray(array, dtype=np.float64)
        digest.update(str(array.shape).encode())
        digest.update(array.data)
    return digest.digest()


@dataclass(frozen=True, slots=True)
class EnsembleDecision:
    signal: Signal
    abstentions: tuple[Abstention, ...]
    reason: str


class Ensemble:
    """The configured members' weighted vote.

    A member is identified by (name, version): ``versions`` gives the registry version each
    member was loaded from (None: not from the registry, or disabled), and :meth:`replace`
    swaps in another version between two decisions.
    """

    def __init__(
        self,
        config: EnsembleConfig,
        members: Sequence[Member],
        weights: WeightProvider | None = None,
        handle: ModuleHandle | None = None,
        versions: Mapping[str, int | None] | None = None,
    ) -> None:
        names = [m.name for m in members]
        if sorted(names) != sorted(config.models):
            raise ValueError(
                f"ensemble members {names} do not match the enabled models {list(config.models)}"
            )
        unknown = sorted(set(versions or {}) - set(names))
        if unknown:
            raise ValueError(f"ensemble versions given for {unknown}, which are not members")
        self.config = config
        self._members = tuple(members)
        self._versions = [(versions or {}).get(n) for n in names]
        self._weights = weights or EqualWeights()
        self._handle = handle
        # (symbol, time) → (digest of the input the votes were computed from, one per member)
        self._prepared: dict[tuple[str, int], tuple[bytes, list[_Prepared]]] = {}
        # per symbol, in time order: batches whose votes are not made yet (see prepare)
        self._chunks: dict[str, deque[_Chunk]] = {}
        self._offload: Executor | None = None  # see offload_to
        self._vote_ns = [0.0] * len(self._members)  # live vote time per member, smoothed
        # the status counters of each member's live votes and their total time (/metrics:
        # api/metrics_models.py); a swap keeps the name, so they run on across versions
        self._vote_counters = [(f"live_votes.{n}", f"live_vote_ns.{n}") for n in names]
        self._bucket_counters = [
            tuple(vote_bucket_counter(b, n) for b in VOTE_TIME_BOUNDS_NS) for n in names
        ]

    def prepare(
        self,
        symbol: str,
        contexts: Sequence[VoteContext],
        submit: Submit | None = None,
    ) -> int:
        """Compute the members' votes for contexts known ahead (a replay) in batch.

        Each member that can (:class:`BatchMember`) votes on all ``contexts`` in one call. At
        decision time :meth:`decide` uses a prepared vote only when the decision's context
        equals, array for array, the one the vote was computed from; otherwise (and for
        members without a batch path) the member votes live. So a prepared vote is always the
        member's answer to the decision's own input: look-ahead cannot enter through it, and
        a batch input that differs from the streaming one costs speed, never correctness
        (``batch_inputs_mismatched`` counts it).

        With ``submit`` (an executor's ``submit``), only the members' model calls run there
        (:class:`BatchWork`); the votes are made, stored and counted on this thread when the
        first decision of the chunk asks for them, which waits for its model calls if they
        are still running. Contexts of one symbol must come in time order, as decisions do.
        Returns the votes prepared (the contexts handed over, with ``submit``).
        """
        if not contexts:
            return 0
        works = [
            member.batch_work(symbol, contexts)
            if isinstance(member, BatchMember)
            else no_batch_votes(len(contexts))
            for member in self._members
        ]
        chunk = _Chunk(
            contexts[0].time,
            [(c.time, _input_digest(c)) for c in contexts],
            works,
            None if submit is None else submit(partial(_compute_all, works)),
        )
        if submit is None:
            return self._store(symbol, chunk)
        self._chunks.setdefault(symbol, deque()).append(chunk)
        return len(contexts)

    def _store(self, symbol: str, chunk: _Chunk) -> int:
        """The chunk's votes into the prepared ones (its model calls done, or run here)."""
        outputs = chunk.outputs.result() if chunk.outputs is not None else _compute_all(chunk.works)
        per_member = [work.finish(out) for work, out in zip(chunk.works, outputs, strict=True)]
        prepared = 0
        for i, (at, digest) in enumerate(chunk.inputs):
            results = [votes[i] for votes in per_member]
            prepared += sum(r is not None for r in results)
            self._prepared[(symbol, at)] = (digest, results)
        if self._handle is not None:
            self._handle.count("batch_votes_prepared", prepared)
        return prepared

    def _precomputed(self, symbol: str, context: VoteContext) -> list[_Prepared] | None:
        chunks = self._chunks.get(symbol)
        while chunks and chunks[0].first_time <= context.time:
            self._store(symbol, chunks.popleft())
            if not chunks:
                del self._chunks[symbol]
        entry = self._prepared.pop((symbol, context.time), None)
        if entry is None:
            return None
        if entry[0] == _input_digest(context):
            return entry[1]
        if self._handle is not None:
            self._handle.count("batch_inputs_mismatched")
        return None

    @property
    def members(self) -> tuple[Member, ...]:
        """The members voting now, in member order (a shadow pipeline serves the same ones)."""
        return self._members

    @property
    def member_ids(self) -> tuple[MemberId, ...]:
        """Who votes now: each member's name and registry version, in member order."""
        return tuple(
            MemberId(m.name, v) for m, v in zip(self._members, self._versions, strict=True)
        )

    def replace(self, member: Member, version: int | None = None) -> Member:
        """Swap in ``member`` for the member of the same name; return the one it replaced.

        Call it between two decisions, on the thread that decides (a scheduler job on the
        engine clock does): a decision never mixes two versions. Votes the old member prepared
        ahead (:meth:`prepare`) are dropped, so the new member votes live on those contexts;
        state kept per model name elsewhere (intelligence weights, ledgers) carries on.
        """
        names = [m.name for m in self._members]
        if member.name not in names:
            raise ValueError(f"ensemble has no member {member.name!r} to replace (has {names})")
        k = names.index(member.name)
        old = self._members[k]
        self._members = (*self._members[:k], member, *self._members[k + 1 :])
        self._versions[k] = version
        self._vote_ns[k] = 0.0
        self.drop_prepared(member.name)
        if self._handle is not None:
            self._handle.count("member_swaps")
        return old

    def drop_prepared(self, name: str) -> None:
        """Forget the votes member ``name`` prepared ahead: it votes live on those contexts
        (after a swap, or when what its slot answers changes, e.g. a challenger joins it)."""
        k = [m.name for m in self._members].index(name)
        for _digest, results in self._prepared.values():
            results[k] = None
        for chunks in self._chunks.values():
            for i, chunk in enumerate(chunks):
                works = list(chunk.works)
                works[k] = no_batch_votes(len(chunk.inputs))  # its finish ignores the old output
                chunks[i] = dataclasses.replace(chunk, works=works)

    def offload_to(self, executor: Executor | None) -> None:
        """Let ``executor`` (one worker thread) take the slowest member's live vote while the
        others vote here: the forecasters' ONNX Runtime calls release the GIL, so the
        decision's votes use both cores. The votes are the same wherever they are computed,
        and they are used in member order; only the decision's latency changes."""
        self._offload = executor

    def _timed_vote(self, k: int, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        started = time.perf_counter_ns()
        result = self._members[k].vote(symbol, context)
        elapsed = time.perf_counter_ns() - started
        # how long this member's live votes take of late: which one to hand over next time
        self._vote_ns[k] = 0.8 * self._vote_ns[k] + 0.2 * elapsed
        if self._handle is not None:  # each member's keys are its own: safe from either thread
            votes, total_ns = self._vote_counters[k]
            self._handle.count(votes)
            self._handle.count(total_ns, elapsed)
            bucket = bisect_left(VOTE_TIME_BOUNDS_NS, elapsed)  # the first bound >= elapsed
            if bucket < len(VOTE_TIME_BOUNDS_NS):
                self._handle.count(self._bucket_counters[k][bucket])
        return result

    def decide(self, symbol: str, context: VoteContext) -> EnsembleDecision:
        votes: list[ModelVote] = []
        abstentions: list[Abstention] = []
        prepared = self._precomputed(symbol, context) if self._prepared or self._chunks else None
        results: list[ModelVote | Abstention | None] = (
            list(prepared) if prepared is not None else [None] * len(self._members)
        )
        served = len(results) - results.count(None)
        live = [k for k, r in enumerate(results) if r is None]
        handed: tuple[int, Future[ModelVote | Abstention]] | None = None
        if self._offload is not None and len(live) > 1:
            slowest = max(live, key=self._vote_ns.__getitem__)
            handed = (slowest, self._offload.submit(self._timed_vote, slowest, symbol, context))
        for k in live:
            if handed is None or k != handed[0]:
                results[k] = self._timed_vote(k, symbol, context)
        if handed is not None:
            results[handed[0]] = handed[1].result()
        for result in results:
            if isinstance(result, Abstention):
                abstentions.append(result)
            elif result is not None:
                votes.append(result)
        weighting = self._weights.weights(symbol, [v.model for v in votes])
        given = weighting.weights
        weighted = tuple(v.weighted(float(given.get(v.model, 0.0))) for v in votes)
        outcome = consensus(weighted, self.config.min_consensus, self.config.threshold)
        reason = outcome.reason
        if abstentions:
            reason += "; abstained: " + ", ".join(f"{a.model} ({a.reason})" for a in abstentions)
        signal = Signal(
            symbol=symbol,
            time=context.time,
            direction=outcome.direction,
            probability=outcome.probability,
            confidence=outcome.confidence,
            votes=weighted,
            agreeing=outcome.agreeing,
            weight_changes=weighting.changes,
        )
        self._report(abstentions)
        if self._handle is not None:
            if served:
                self._handle.count("batch_votes_served", served)
            if len({v.weight for v in weighted}) > 1:
                # evidence that the learned weights reach the vote (equal weights never count)
                self._handle.count("votes_weighted_unequally")
        return EnsembleDecision(signal, tuple(abstentions), reason)

    def _report(self, abstentions: list[Abstention]) -> None:
        handle = self._handle
        if handle is None:
            return
        handle.count("signals")
        disabled = [a for a in abstentions if a.disabled]
        if not handle.enabled:
            return
        usable = len(self._members) - len(disabled)
        if disabled:
            names = ", ".join(f"{a.model}: {a.reason}" for a in disabled)
            state = (
                ModuleState.DEGRADED if usable >= self.config.min_consensus else ModuleState.FAILED
            )
            handle.set_state(
                state,
                f"{usable} of {len(self._members)} members usable (min consensus "
                f"{self.config.min_consensus}); disabled: {names}",
            )
        elif handle.status.state is not ModuleState.ACTIVE:
            handle.set_state(ModuleState.ACTIVE, "all members usable")
