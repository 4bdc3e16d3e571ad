"""Experiments that a learning daemon creates when it puts a new candidate in the shadow.

When a daemon lands a new version of a line in SHADOW (the PPO selector's training daemon,
``rl/daemon.py``, is the first), :meth:`CandidateExperiments.land` declares an experiment
between the line's production (the control arm, ``production``) and the candidate (the
treatment arm, ``candidate``), in the same store the CLI writes, so ``quantum-trader
experiments list|show`` shows it like any other:

* **declared as the CLI's defaults**: metric ``net_return_bp``, guardrail ``max_drawdown``
  0.25, Thompson allocation, alpha 0.05, horizon 4,000, at least 100 samples; mode
  ``shadow``: neither arm trades the real account (the candidate has not been shown to beat
  production, which is why it is in the shadow);
* **named by its candidate**, ``<line with / as .>@v<version>`` (``ppo_selector.global.h0@v7``):
  a candidate never gets two experiments. Landing it again (a replay that resumes, a restart
  whose daemon serves the same candidate, a second call) finds the stored one and resumes it
  if it runs, or leaves it be if it ended;
* **one running experiment per line**: a newer candidate *stops* the older candidate's
  experiment (reason: superseded) rather than waiting for it. Each line has one shadow
  account, whose policy the daemon swaps at each landing, so the older candidate's arm no
  longer trades and nothing could feed its experiment. A change of the line's production
  version (:meth:`CandidateExperiments.production_changed`) stops it too: its control is no
  longer the one it declared;
* **none that could not decide**: an experiment says nothing before its minimum sample (one
  observation per candle), and a superseded one never gets there. So a candidate gets no
  experiment when its predecessor in this process stayed in the shadow for fewer candles than
  that minimum (the daemon lands faster than an experiment can gather its sample): it is
  counted in ``skipped`` with the reason, and creation resumes once a candidate stays long
  enough. The first candidate a process lands, and one whose experiment is stored, are never
  skipped;
* **its creator recorded** (``experiments/creators.py``): ``learning daemon: <trigger>``;
* **its winner promoted** when the line gives a ``promoter`` (a candidate's registry version
  one stage forward, ``app/policy_candidates.py``); without one a verdict is audited only;
* **deterministic on replay**: created at the engine time of the landing, observed from the
  first candle after it (the arms' accounts may have traded before, under other versions), so
  the same run creates the same experiments with the same records.

The arms are the two sub-ledgers of the line's shadow pair: its twin (production's decisions)
and its challenger (the candidate's), at the same prices, fees and funding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from quantum_trader.experiments.creators import (
    LEARNING_DAEMON,
    by_learning_daemon,
    record_creator,
)
from quantum_trader.experiments.experiment import Experiment, Promoter
from quantum_trader.experiments.feed import ExperimentFeed
from quantum_trader.experiments.records import ExperimentStatus, ExperimentStore
from quantum_trader.experiments.spec import MIN_SAMPLES, ArmSpec, ExperimentSpec
from quantum_trader.portfolio.portfolio import Portfolio

CONTROL = "production"
TREATMENT = "candidate"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A version of ``line`` (``ppo_selector/global/h0``) that a daemon put in the SHADOW
    stage; ``trigger``: what landed it, recorded as the experiment's creator."""

    line: str
    version: int
    trigger: str
    kind: str = "policy"  # the arms' kind (``spec.ARM_KINDS``): policy or model

    def __post_init__(self) -> None:
        if not self.line or self.version < 1:
            raise ValueError(f"candidate {self.line!r} v{self.version}: need a line, version >= 1")

    @property
    def experiment(self) -> str:
        """Its experiment's name (a candidate has one)."""
        return f"{line_prefix(self.line)}{self.version}"

    @property
    def creator(self) -> str:
        return f"{LEARNING_DAEMON}: {self.trigger}"


def line_prefix(line: str) -> str:
    """What every candidate experiment of ``line`` is named with, before its version.

    >>> line_prefix("ppo_selector/global/h0")
    'ppo_selector.global.h0@v'
    """
    return f"{line.replace('/', '.')}@v"


def candidate_spec(
    candidate: Candidate, *, seed: int = 0, min_samples: int = MIN_SAMPLES
) -> ExperimentSpec:
    """The experiment a candidate gets: production against it, the CLI's defaults, shadow."""
    return ExperimentSpec(
        candidate.experiment,
        (
            ArmSpec(CONTROL, candidate.kind, ref=f"{candidate.line}@production"),
            ArmSpec(TREATMENT, candidate.kind, ref=f"{candidate.line}@v{candidate.version}"),
        ),
        mode="shadow",
        seed=seed,
        min_samples=min_samples,
    )


class FeedFrom(ExperimentFeed):
    """A feed that observes only the candles after its creation: its books' equity points
    before that belong to other versions (or to an earlier experiment of the line)."""

    def __init__(
        self,
        experiment: Experiment,
        books: Mapping[str, Portfolio],
        version: Callable[[str], str],
        *,
        on_progress: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(experiment, books, version, on_progress=on_progress)
        control = books[experiment.spec.control]
        # the next observation is the return from the last point recorded to the one after it
        self._next = max(1, len(control.equity_times))


class CandidateExperiments:
    """The candidate experiments of one line, fed from its shadow pair's two sub-ledgers
    (``control``: production's decisions, ``treatment``: the candidate's); ``version``: what
    an arm runs now, stored with each unit. Follow :meth:`on_bar` after the pair."""

    def __init__(
        self,
        store: ExperimentStore,
        line: str,
        control: Portfolio,
        treatment: Portfolio,
        version: Callable[[str], str],
        *,
        seed: int = 0,
        min_samples: int = MIN_SAMPLES,
        on_change: Callable[[], object] | None = None,
        promoter: Callable[[Candidate], Promoter] | None = None,
    ) -> None:
        self.store = store
        self.promoter = promoter  # what a verdict of each candidate's experiment promotes
        self.line = line
        self.books = {CONTROL: control, TREATMENT: treatment}
        self.version = version
        self.seed = seed
        self.on_change = on_change
        self.feed: FeedFrom | None = None  # the running experiment's feed (None: none runs)
        self.created: list[str] = []  # the experiments this process created
        self.superseded: list[str] = []  # those it stopped for a newer candidate
        self.min_samples = min_samples
        self.skipped: list[str] = []  # candidates given no experiment (see the module's notes)
        self.skip_reason = ""  # why the last one was skipped
        self._candles = 0  # candle close times seen by on_bar
        self._last_close: int | None = None
        self._landed_at: int | None = None  # ``_candles`` at the last landing in this process
        #: the store was searched for the line's experiments an earlier run left running; after
        #: that only this process's can run (one engine per database: ``app/run_lock.py``)
        self._swept = False

    @property
    def experiment(self) -> Experiment | None:
        return None if self.feed is None else self.feed.experiment

    def land(
        self, candidate: Candidate, at: int, *, books: tuple[Portfolio, Portfolio] | None = None
    ) -> Experiment | None:
        """``candidate`` entered the shadow at engine time ``at``: stop the line's other
        running candidate experiments, then create its experiment or resume the stored one.
        ``books``: a new pair's (control, treatment) sub-ledgers, for a line whose every
        candidate gets a pair of its own (a model line's); else the line's pair goes on.
        Returns the experiment now fed (None: the candidate's ended before)."""
        if candidate.line != self.line:
            raise ValueError(f"candidate of {candidate.line} handed to {self.line}'s experiments")
        name = candidate.experiment
        current = self.experiment
        if current is not None and current.spec.name == name and current.running:
            return current  # landed again in this process: nothing new
        stint = None if self._landed_at is None else self._candles - self._landed_at
        self._landed_at = self._candles
        self._stop_others(name, at, f"superseded: v{candidate.version} entered the shadow and "
                          "the line's shadow account serves it now")  # fmt: skip
        stored = self.store.load(name)
        if stored is None and stint is not None and stint < self.min_samples:
            self.skipped.append(name)
            self.skip_reason = (
                f"{name}: no experiment, its predecessor stayed {stint} candles in the shadow, "
                f"fewer than the {self.min_samples} an experiment needs before it can decide"
            )
            self.feed = None
            self._changed()
            return None
        if stored is None:
            spec = candidate_spec(candidate, seed=self.seed, min_samples=self.min_samples)
            experiment = Experiment.start(self.store, spec, at)
            self.created.append(name)
        else:
            experiment = Experiment(stored, self.store)
        record_creator(self.store, name, at, candidate.creator)  # idempotent (see creators.py)
        if books is not None:
            self.books = {CONTROL: books[0], TREATMENT: books[1]}
        self.feed = None
        if experiment.running:
            if self.promoter is not None:
                experiment.promoter = self.promoter(candidate)
            self.feed = FeedFrom(experiment, self.books, self.version, on_progress=self.on_change)
        self._changed()
        return self.experiment

    def production_changed(self, version: str, at: int) -> None:
        """The line's production now serves ``version``: the running experiment's control is
        not the one it declared, so it stops (its candidate gets no second experiment)."""
        self._stop_others(None, at, f"the line's production changed to {version}: the "
                          "control it declared no longer trades")  # fmt: skip
        self._changed()

    def end(self, at: int, reason: str) -> None:
        """The running candidate's pair ended (its candidate left the shadow: promoted or
        retired): observe its last candle, then stop its experiment with ``reason``."""
        if self.feed is not None and self.feed.experiment.running:
            self.feed.finish()
        self._stop_others(None, at, reason)
        self._changed()

    def on_bar(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None:
        self.passed((close_time,))
        feed = self.feed
        if feed is not None and feed.experiment.running:
            feed.on_bar(symbol, open_time, close_time, o, h, lo, c, v)

    def passed(self, close_times: Iterable[int]) -> None:
        """Count the candles of ``close_times`` not counted yet (the stint a candidate stays
        in the shadow; the candles an engine skips while nothing is fed come here directly)."""
        for close_time in close_times:
            if self._last_close is None or close_time > self._last_close:
                self._last_close = close_time
                self._candles += 1

    def finish(self) -> None:
        """The run ends: the last candle is complete. The experiment goes on running in the
        store; the next run whose daemon serves its candidate resumes it."""
        if self.feed is not None and self.feed.experiment.running:
            self.feed.finish()
        self._changed()

    def _stop_others(self, keep: str | None, at: int, reason: str) -> None:
        """Stop the line's running daemon experiments but ``keep``'s (the one in this process
        first, then any a previous run left running)."""
        current = self.experiment
        if current is not None and current.spec.name != keep and current.running:
            current.stop(at, reason)
            self.superseded.append(current.spec.name)
        if current is not None and current.spec.name != keep:
            self.feed = None
        if self._swept:
            return
        self._swept = True
        prefix = line_prefix(self.line)
        for other in self.store.names():
            if other == keep or not other.startswith(prefix):
                continue
            if self.store.status(other) is not ExperimentStatus.RUNNING:
                continue
            stored = self.store.load(other)
            assert stored is not None
            if by_learning_daemon(stored):  # one an operator named like it is left be
                Experiment(stored, self.store).stop(at, reason)
                self.superseded.append(other)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
