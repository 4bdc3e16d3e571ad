"""The shadow evaluator (module ``shadow_models``): what each served line and its challenger
would have earned on the labels that matured since.

Every watched slot (:class:`~quantum_trader.learning.challenger.WatchedMember`) reports its
champion's and its challenger's answers to each decision. The evaluator keeps them pending
until the label window closes (the prediction at candle open ``t`` is labelled by the close of
``t + horizon``, known at ``t + (horizon + 1)`` candles: the rule of the intelligence ledger),
then, per registry line:

* **challenge**: ``champion loss - challenger loss`` on the same bar goes to the line's
  always-valid paired test (``learning/sequential.py``); the challenger's matured labels, its
  calibration error on the latest ones, its vote latency and any failure are its guardrails;
* **production watch**: ``base-rate loss - champion loss``, the base rate being the class
  frequencies of the labels matured before this one (a forecast anyone could make), goes to a
  second test: a production version significantly worse than that (say, its outputs were
  inverted) is evidence for a rollback.

The rollout (``learning/rollout.py``) reads :meth:`ShadowEvaluator.watch` and decides. The
evaluator's state (tests, counts, pending predictions) is plain JSON (:meth:`to_state`). What
the operator sees of each judged challenger, its vote time and its calibration on the matured
labels, is kept beside, in :attr:`ShadowEvaluator.figures` (``learning/challenger_figures.py``),
which the rollout never reads.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from quantum_trader.domain.signals import ModelVote
from quantum_trader.intelligence.ledger import PROB_FLOOR, LabelSource, horizon_end_time
from quantum_trader.learning.challenger import WatchedMember
from quantum_trader.learning.challenger_figures import ChallengerFigures
from quantum_trader.learning.gate import diebold_mariano
from quantum_trader.learning.sequential import PairedSequentialTest, SequentialConfig
from quantum_trader.models.ensemble.member import Abstention
from quantum_trader.models.metrics import expected_calibration_error
from quantum_trader.status.registry import ModuleHandle

Probs = tuple[float, float, float]
#: matured challenger predictions kept for its calibration guardrail
CALIBRATION_WINDOW = 500
NORMAL = NormalDist()
#: matured labels in the decay trigger's rolling window
DECAY_WINDOW = 200
#: one-sided level of the decay trigger's test (a retraining is cheap; a rollback is not, and
#: waits for the always-valid production watch)
DECAY_LEVEL = 0.05
#: effect size (sd of a block) the production watch's test is tuned to find quickest
GUARD_EFFECT = 1.0
#: blocks before the production watch may conclude: fewer than a challenge's (20), for speed
#: after a fault; restarted only after BETTER, false rollbacks stayed at 0 of 20 runs of
#: 5,000 bars for a skilled and for a skill-less version (tests/learning/test_rollout.py)
GUARD_MIN_BLOCKS = 10
#: the production watch plugs in its running variance (sequential.py): integrating the scale
#: out, as a challenge does, made it slower after a fault (inverted outputs rolled back after
#: 51 to 183 matured labels over seeds 0-9 instead of 51 to 147; issue 17 asks for 150). Its
#: level is then only approximate; false rollbacks measured: 0 of 200 A/A replays, 0 of 20
#: long runs (tests/learning/test_rollout.py)
GUARD_PLUG_IN = True


def _loss(probs: Probs, label: int) -> float:
    return -math.log(max(probs[label], PROB_FLOOR))


def _probs(vote: ModelVote | Abstention | None) -> Probs | None:
    return (vote.p_down, vote.p_flat, vote.p_up) if isinstance(vote, ModelVote) else None


@dataclass
class LineWatch:
    """One registry line's evidence: its production watch and its current challenge."""

    line: str
    challenger: int | None = None  # the challenger's version (None: no challenge)
    share: float = 0.0
    challenge: PairedSequentialTest | None = None
    matured: int = 0  # paired labels matured in the current challenge step
    failures: int = 0
    last_failure: str = ""
    latencies_ns: deque[int] = field(default_factory=lambda: deque(maxlen=1_000))
    recent: deque[tuple[Probs, int]] = field(
        default_factory=lambda: deque(maxlen=CALIBRATION_WINDOW)
    )
    production: PairedSequentialTest | None = None  # champion vs the base rate
    production_matured: int = 0
    class_counts: list[int] = field(default_factory=lambda: [0, 0, 0])
    #: the latest base-rate-minus-production differences, for the decay trigger
    rolling: deque[float] = field(default_factory=lambda: deque(maxlen=DECAY_WINDOW))

    def calibration_error(self) -> float | None:
        """The challenger's ECE on its latest matured labels (None before any)."""
        if not self.recent:
            return None
        probs = np.array([p for p, _ in self.recent])
        labels = np.array([y for _, y in self.recent], dtype=np.float64)
        return expected_calibration_error(labels, probs)

    def latency_p99_ms(self) -> float | None:
        if not self.latencies_ns:
            return None
        return float(np.percentile(np.array(self.latencies_ns), 99)) / 1e6

    def describe(self) -> str:
        watch = self.production.evidence() if self.production else None
        text = f"{self.line}: production vs base rate " + (
            watch.describe() if watch else "not watched"
        )
        if self.challenger is not None and self.challenge is not None:
            text += (
                f"; challenger v{self.challenger} at {self.share:.0%}: {self.matured} matured, "
                f"{self.challenge.evidence().describe()}"
            )
            if self.failures:
                text += f", {self.failures} failures ({self.last_failure})"
        return text


@dataclass(frozen=True, slots=True)
class _Pending:
    line: str
    prediction_time: int
    horizon_end: int
    champion: Probs | None
    challenger: Probs | None
    challenger_version: int | None


class ShadowEvaluator:
    """Pairs every watched slot's answers with the labels that mature (see the module doc)."""

    def __init__(
        self,
        horizon: int,
        timeframe_ms: int,
        test: SequentialConfig | None = None,
        handle: ModuleHandle | None = None,
        guard: SequentialConfig | None = None,
    ) -> None:
        self._horizon = horizon
        self._tf = timeframe_ms
        # outcomes over overlapping windows: blocks of horizon + 1 (see sequential.py)
        self._test = test or SequentialConfig(block=horizon + 1)
        # the production watch looks for failures, not fine differences: its mixture is
        # tuned to an effect of one standard deviation per block (any tuning keeps the level),
        # and it may conclude after fewer blocks
        self._guard = guard or SequentialConfig(
            block=horizon + 1,
            effect=GUARD_EFFECT,
            min_blocks=GUARD_MIN_BLOCKS,
            plug_in=GUARD_PLUG_IN,
        )
        self._handle = handle
        #: ``/metrics``' figures of the judged challengers: observability only, never read back
        self.figures = ChallengerFigures(handle)
        self._watches: dict[str, LineWatch] = {}
        # per symbol and line, by prediction time, in time order (one queue per line: a batch
        # reports a line's votes far ahead, and must not hold another line's back); a second
        # report of the same prediction (a batch vote recomputed live) replaces the first
        self._pending: dict[str, dict[str, dict[int, _Pending]]] = {}

    # --- what the slots report --------------------------------------------------------
    def watch(self, line: str) -> LineWatch:
        found = self._watches.get(line)
        if found is None:
            found = LineWatch(line, production=PairedSequentialTest(self._guard))
            self._watches[line] = found
        return found

    def decayed(self) -> list[str]:
        """Lines whose production version is worse than the base rate on its latest
        :data:`DECAY_WINDOW` matured labels (one-sided Diebold-Mariano test at
        :data:`DECAY_LEVEL`, long-run variance to the horizon): the learning daemon's DECAY
        trigger. A rolling window, not the always-valid watch: that one's evidence builds up
        over the version's whole life and turns slowly after a change, which suits a
        rollback but not a retraining."""
        out = []
        for line, w in sorted(self._watches.items()):
            if len(w.rolling) < DECAY_WINDOW:
                continue
            statistic, _p = diebold_mariano(np.array(w.rolling), self._horizon)
            if statistic < NORMAL.inv_cdf(DECAY_LEVEL):
                out.append(line)
        return out

    def watches(self) -> list[LineWatch]:
        return [self._watches[line] for line in sorted(self._watches)]

    def start_challenge(self, line: str, version: int, share: float) -> None:
        """A fresh test for ``version`` at ``share``: a new step spends a new level, and the
        evidence of a step under another share is not this step's."""
        watch = self.watch(line)
        watch.challenger, watch.share = version, share
        watch.challenge = PairedSequentialTest(self._test)
        watch.matured = 0
        watch.failures, watch.last_failure = 0, ""
        watch.latencies_ns.clear()
        watch.recent.clear()
        self.figures.begin(line, version, share)

    def end_challenge(self, line: str) -> None:
        watch = self.watch(line)
        watch.challenger, watch.share, watch.challenge, watch.matured = None, 0.0, None, 0
        self.figures.end(line)

    def restart_production_watch(self, line: str, *, keep_count: bool = False) -> None:
        """A fresh test of the production version against the base rate: for a new version
        (its matured count restarts too, unless ``keep_count``: the same version watched on).
        The base rate's counts stay: they describe the market, not the model."""
        watch = self.watch(line)
        watch.production = PairedSequentialTest(self._guard)
        if not keep_count:
            watch.production_matured = 0
            watch.rolling.clear()

    def on_votes(
        self,
        slot: WatchedMember,
        symbol: str,
        decided_at: int,
        champion: ModelVote | Abstention,
        challenger: ModelVote | Abstention | None,
        challenger_ns: int,
    ) -> None:
        watch = self.watch(slot.line)
        challenge = slot.challenge
        version = challenge.version if challenge is not None else None
        if version is not None and version == watch.challenger and challenger is not None:
            watch.latencies_ns.append(challenger_ns)
            self.figures.on_vote(slot.line, version, challenger_ns)
        first_open = ((decided_at + self._tf - 1) // self._tf - 1) * self._tf
        pending = _Pending(
            slot.line,
            first_open,
            horizon_end_time(first_open, self._horizon, self._tf),
            _probs(champion),
            _probs(challenger),
            version,
        )
        if pending.champion is None and pending.challenger is None:
            return
        self._pending.setdefault(symbol, {}).setdefault(pending.line, {})[first_open] = pending
        if self._handle is not None:
            self._handle.count("predictions_recorded")

    def on_challenger_failure(self, slot: WatchedMember, symbol: str, error: str) -> None:
        watch = self.watch(slot.line)
        watch.failures += 1
        watch.last_failure = f"{symbol}: {error}"
        if self._handle is not None:
            self._handle.count("challenger_failures")

    # --- labels --------------------------------------------------------------------------
    def resolve(self, now: int, labels: LabelSource, symbols: Iterable[str]) -> int:
        """Score what matured by ``now``; returns the predictions resolved. A prediction whose
        label cannot be read once its window closed (a gap in the candles) is dropped."""
        resolved = 0
        for symbol in symbols:
            for queue in self._pending.get(symbol, {}).values():
                while queue:
                    at, item = next(iter(queue.items()))
                    if item.horizon_end > now:
                        break
                    del queue[at]
                    label = labels(symbol, item.prediction_time)
                    if label is None:
                        if self._handle is not None:
                            self._handle.count("predictions_unlabelled")
                        continue
                    self._score(item, label, symbol)
                    resolved += 1
        if resolved and self._handle is not None:
            self._handle.count("labels_matured", resolved)
        return resolved

    def _score(self, item: _Pending, label: int, symbol: str) -> None:
        watch = self.watch(item.line)
        counts = watch.class_counts
        total = sum(counts)
        if item.champion is not None and watch.production is not None:
            # the base rate of the labels before this one (add-one smoothed): causal
            base = ((counts[0] + 1) / (total + 3), (counts[1] + 1) / (total + 3))
            base_probs = (base[0], base[1], 1.0 - base[0] - base[1])
            difference = _loss(base_probs, label) - _loss(item.champion, label)
            watch.production.add(difference)
            watch.rolling.append(difference)
            watch.production_matured += 1
        counts[label] += 1
        if item.challenger is not None and item.challenger_version is not None:
            self.figures.on_label(
                item.line,
                item.challenger_version,
                symbol,
                item.challenger,
                label,
                _loss(item.challenger, label),
            )
        if (
            item.challenger is not None
            and item.champion is not None
            and watch.challenge is not None
            and item.challenger_version == watch.challenger
        ):
            watch.challenge.add(_loss(item.champion, label) - _loss(item.challenger, label))
            watch.matured += 1
            watch.recent.append((item.challenger, label))
            if self._handle is not None:
                self._handle.count("pairs_matured")

    # --- persistence ---------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "watches": {
                line: {
                    "challenger": w.challenger,
                    "share": w.share,
                    "challenge": w.challenge.state() if w.challenge else None,
                    "matured": w.matured,
                    "failures": w.failures,
                    "last_failure": w.last_failure,
                    "recent": [[list(p), y] for p, y in w.recent],
                    "production": w.production.state() if w.production else None,
                    "production_matured": w.production_matured,
                    "rolling": list(w.rolling),
                    "class_counts": list(w.class_counts),
                }
                for line, w in sorted(self._watches.items())
            },
            # lines in name order, not in the order their first vote landed (the slowest
            # member votes on a second thread, so that order varies from run to run)
            "pending": {
                symbol: [
                    [
                        p.line,
                        p.prediction_time,
                        p.horizon_end,
                        list(p.champion) if p.champion else None,
                        list(p.challenger) if p.challenger else None,
                        p.challenger_version,
                    ]
                    for _line, queue in sorted(lines.items())
                    for p in queue.values()
                ]
                for symbol, lines in sorted(self._pending.items())
            },
            "challengers": self.figures.to_state(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._watches = {}
        for line, s in state["watches"].items():
            watch = LineWatch(
                line,
                challenger=s["challenger"],
                share=float(s["share"]),
                challenge=PairedSequentialTest.from_state(s["challenge"])
                if s["challenge"]
                else None,
                matured=int(s["matured"]),
                failures=int(s["failures"]),
                last_failure=str(s["last_failure"]),
                production=PairedSequentialTest.from_state(s["production"])
                if s["production"]
                else None,
                production_matured=int(s["production_matured"]),
                class_counts=[int(c) for c in s["class_counts"]],
            )
            watch.rolling.extend(float(v) for v in s["rolling"])
            for probs, label in s["recent"]:
                watch.recent.append((_triple(probs), int(label)))
            self._watches[line] = watch
        self._pending = {}
        for symbol, rows in state["pending"].items():
            lines = self._pending.setdefault(symbol, {})
            for line, at, end, champ, chal, version in rows:
                lines.setdefault(line, {})[int(at)] = _Pending(
                    line,
                    int(at),
                    int(end),
                    _triple(champ) if champ else None,
                    _triple(chal) if chal else None,
                    version,
                )
        # a state saved before the challengers' figures existed has none: its challengers'
        # figures start from nothing
        self.figures = ChallengerFigures(self._handle)
        if "challengers" in state:
            self.figures.load_state(state["challengers"])
        judged = self.figures.judged()
        for line, w in self._watches.items():
            if w.challenger is not None and line not in judged:
                self.figures.begin(line, w.challenger, w.share)


def _triple(values: list[float]) -> Probs:
    down, flat, up = (float(v) for v in values)
    return (down, flat, up)
