"""The learning daemon (module ``continuous_learning``): retrains on the engine clock.

Every ``check_ms`` of engine time (``QT_RETRAIN_CHECK_MINUTES``; replay, paper and live alike)
a scheduler job looks at each line it serves (``xgb/BTCUSDT/h4`` …, ``nhits/global/h4`` …) and
retrains the lines that asked for it (``learning/triggers.py``): the SCHEDULE came round
(``QT_RETRAIN_SCHEDULE_DAYS`` since the line's last training), DRIFT or COVARIATE_SHIFT was
published for it (for a global forecaster line: for any of its symbols), or the shadow
evaluator found production worse than the base rate (DECAY).
A line is trained at most once per ``min_gap_ms``, and not while an earlier candidate of it is
still judged in the shadow or as a canary (``busy``): a new one would restart that judgement.
Triggers in between wait, at most one per line (the first; later ones are counted as
``triggers_merged``): a burst of alarms, or weeks of them behind a busy line, asks for one
training and keeps the saved state small.

One training, at trigger time ``T``:

1. *prepare*, on the engine thread: a tabular line's reader returns its symbol's dataset of
   candles closing at or before ``T`` (``train_ms`` of them), checked by
   :func:`~quantum_trader.learning.triggers.training_rows` (a labelled row whose label was
   not known at ``T`` is refused, LookAheadError). The last ``validation_rows`` labelled rows
   are held out, and ``horizon`` rows before them purged, for the validation gate. A
   forecaster line reads every symbol's closes the same way, checked by
   :func:`~quantum_trader.learning.forecaster_lines.training_closes`, and holds out the same
   rows per symbol, each carrying its window of closes (``learning/forecaster_lines.py``);
   with the warm start on, it will start from the PRODUCTION version's weights;
2. *compute*, in the worker (spawned low-priority processes: decisions never wait for them,
   and a replay waits at the landing time only, so it stays deterministic; the check's lines
   are fitted side by side, one per process of the worker group, ``QT_TRAINING_PROCESSES``):
   fit through the trainer port (``learning/trainers.py``) inside the worker itself,
   forecasters included (torch enters the worker, never the serving process; see
   :func:`_fit_job`), tabular lines from scratch, artifact into the content-addressed store;
3. *apply*, at ``T + check_ms`` on the engine thread: register the CANDIDATE (actor
   ``rule:continuous-learning``, the trigger as reason, and the version a warm start began
   from) and hand it with its validation rows to ``on_candidate`` (the app's validation gate,
   then the shadow).

What the daemon remembers (last training per line, waiting triggers, the trainings in flight)
is plain JSON, saved after every check that changed it and after every landing to a
``StateRepository`` (the intelligence modules' one) when one is given, and read back by
:meth:`LearningDaemon.restore` after a restart. A training in flight when the process died
(started, not landed) is asked for again: its trigger waits first in its line, and the line's
last training goes back to the one before, so the minimum gap does not hold the retry back. A
death between a landing's registration and its save trains that line once more (a second
candidate of the same trigger), never zero times.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.clock.worker_jobs import Worker, WorkerJobError, WorkerTask
from quantum_trader.domain.errors import QuantumTraderError
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_MINUTE, fmt, timeframe_ms
from quantum_trader.features.dataset import Dataset
from quantum_trader.intelligence.state import StateRepository, restore_state, save_state
from quantum_trader.learning.forecaster_lines import ForecasterConfig, ReadCloses, forecaster_job
from quantum_trader.learning.registry import ModelKey, ModelRegistry, ModelVersion
from quantum_trader.learning.trainers import (
    ArtifactStore,
    FamilyKind,
    FitOptions,
    Fitted,
    TrainingWindow,
    family,
    fit_in_this_process,
)
from quantum_trader.learning.triggers import Trigger, TriggerInbox, TriggerKind, training_rows
from quantum_trader.observability.logging import get_logger
from quantum_trader.status.registry import ModuleHandle

log = get_logger(__name__)

ACTOR = "rule:continuous-learning"
#: the daemon's document in the state repository (a run may name its own)
STATE_KEY = "continuous_learning/daemon"

#: the candles a training reads: (symbol, first open time, trigger time) → that symbol's
#: dataset of every candle closing at or before the trigger time (the app reads the store)
ReadDataset = Callable[[str, int, int], Dataset]


@dataclass(frozen=True, slots=True)
class LearningConfig:
    horizon: int
    timeframe_ms: int
    check_ms: int = 30 * MS_PER_MINUTE
    schedule_ms: int | None = 7 * MS_PER_DAY  # None: no scheduled retraining
    min_gap_ms: int = MS_PER_DAY  # between two trainings of one line
    train_ms: int = 365 * MS_PER_DAY  # the window a training reads
    validation_rows: int = 336  # held out for the gate (two weeks of 1h rows)
    seed: int = 0
    fit_params: Mapping[str, Any] = field(default_factory=dict)  # hyperparameter overrides

    def __post_init__(self) -> None:
        if self.check_ms <= 0:
            raise ValueError(f"LearningConfig.check_ms={self.check_ms}: must be positive")
        if self.schedule_ms is not None and self.schedule_ms < self.check_ms:
            raise ValueError(
                f"LearningConfig.schedule_ms={self.schedule_ms}: below check_ms={self.check_ms}"
            )
        if self.validation_rows < 1:
            raise ValueError(f"LearningConfig.validation_rows={self.validation_rows}: >= 1")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A registered candidate, its trigger and the rows held out to validate it."""

    version: ModelVersion
    trigger: Trigger
    validation: Dataset


@dataclass(frozen=True, slots=True)
class _Job:
    line: str
    model: str
    window: TrainingWindow
    validation: Dataset
    options: FitOptions
    store: ArtifactStore
    trigger: Trigger


@dataclass(frozen=True, slots=True)
class _Result:
    job: _Job
    fitted: Fitted | None
    error: str = ""


def _fit_job(job: _Job) -> _Result:
    """The worker's part, for one line: fit it (an error is returned, not raised: the check's
    other lines, fitted side by side in the worker group's other processes, go on).

    Every family fits right here, the forecasters included: this already is a worker process
    (spawned, nice 19, idle class, one math thread, dying with the engine), so torch stays out
    of the serving process; and ``trainers.fit``'s own spawned process for a forecaster cannot
    start from here (a daemonic process may not have children) and would run at normal
    priority beside the decisions if it could. The cost: torch stays loaded in each worker
    process after its first forecaster training, for the rest of the run.
    """
    try:
        return _Result(job, fit_in_this_process(job.model, job.window, job.options, job.store))
    # bad data or a damaged warm-start artifact fails this job only
    except (ValueError, RuntimeError, OSError, QuantumTraderError) as exc:
        return _Result(job, None, f"{type(exc).__name__}: {exc}")


@dataclass
class _LineState:
    last_trained: int
    waiting: list[Trigger] = field(default_factory=list)
    # the trigger of a training started and not landed yet, and last_trained before it
    in_flight: Trigger | None = None
    before: int = 0


class LearningDaemon:
    def __init__(
        self,
        config: LearningConfig,
        lines: Sequence[ModelKey],
        read: ReadDataset,
        store: ArtifactStore,
        registry: ModelRegistry,
        on_candidate: Callable[[Candidate], object],
        *,
        inbox: TriggerInbox | None = None,
        decayed: Callable[[], Sequence[str]] | None = None,
        busy: Callable[[ModelKey], bool] | None = None,
        handle: ModuleHandle | None = None,
        started_at: int = 0,
        repository: StateRepository | None = None,
        state_key: str = STATE_KEY,
        forecasters: tuple[ForecasterConfig, ReadCloses] | None = None,
    ) -> None:
        self.config = config
        self._lines = {str(k): k for k in lines}
        forecaster_lines = [k for k in lines if family(k.model).kind is FamilyKind.FORECASTER]
        if forecaster_lines and forecasters is None:
            raise ValueError(
                f"LearningDaemon: forecaster lines {[str(k) for k in forecaster_lines]} need "
                "a ForecasterConfig and a closes reader (forecasters=)"
            )
        if (
            forecasters is not None
            and timeframe_ms(forecasters[0].timeframe) != config.timeframe_ms
        ):
            raise ValueError(
                f"LearningDaemon: forecasters' timeframe {forecasters[0].timeframe} is not "
                f"LearningConfig.timeframe_ms={config.timeframe_ms}"
            )
        self._forecasters = forecasters
        self._read = read
        self._store = store
        self._registry = registry
        self._on_candidate = on_candidate
        self._inbox = inbox or TriggerInbox()
        self._decayed = decayed
        self._busy = busy
        self._handle = handle
        self._state = {line: _LineState(started_at) for line in self._lines}
        self._repository = repository
        self._state_key = state_key
        self._changed = False

    def start(self, scheduler: Scheduler, worker: Worker, start_at: int) -> None:
        """The check job: at ``start_at + k * check_ms``, its trainings landing one check later."""
        scheduler.every_in_worker(
            "continuous_learning.check",
            self.config.check_ms,
            WorkerTask(self.prepare, _fit_job, self.apply, each=True),
            worker=worker,
            delay_ms=self.config.check_ms,
            start_at=start_at,
            on_error=self._failed,
        )

    # --- the check -----------------------------------------------------------------------
    def _collect(self, now: int) -> None:
        for trigger in self._inbox.take():
            for line in self._lines_of(trigger.model, trigger.symbol):
                self._wait(line, trigger)
        for line in self._decayed() if self._decayed is not None else ():
            # a decayed line says so at every check: only a line with nothing waiting asks
            if line in self._state and not self._state[line].waiting:
                key = self._lines[line]
                trigger = Trigger(
                    TriggerKind.DECAY, key.model, key.scope, now, "worse than the base rate"
                )
                self._wait(line, trigger)
        if self.config.schedule_ms is None:
            return
        for line, state in self._state.items():
            if now - state.last_trained >= self.config.schedule_ms and not state.waiting:
                key = self._lines[line]
                detail = f"last trained {fmt(state.last_trained)}"
                self._wait(line, Trigger(TriggerKind.SCHEDULE, key.model, key.scope, now, detail))

    def _wait(self, line: str, trigger: Trigger) -> None:
        """Debounce: a line keeps its first waiting trigger; later ones are only counted."""
        self._count(f"triggers_{trigger.kind.lower()}")
        waiting = self._state[line].waiting
        if waiting:
            self._count("triggers_merged")
            return
        waiting.append(trigger)
        self._changed = True

    def _lines_of(self, model: str, symbol: str) -> list[str]:
        """Every line of ``model`` serving ``symbol`` (one per horizon)."""
        return [
            line
            for line, key in self._lines.items()
            if key.model == model and key.scope in (symbol, "global")
        ]

    def prepare(self, now: int) -> list[_Job]:
        """Collect triggers; build the training jobs of the lines due (engine thread)."""
        self._collect(now)
        jobs = []
        # the lines of one symbol (xgb, lgbm) due at one check read the same candles: once
        datasets: dict[str, Dataset] = {}
        for line, state in self._state.items():
            if not state.waiting or now - state.last_trained < self.config.min_gap_ms:
                continue
            key = self._lines[line]
            if self._busy is not None and self._busy(key):
                continue  # one candidate at a time: its triggers wait for its verdict
            trigger = state.waiting[0]
            state.waiting.clear()
            state.before, state.last_trained = state.last_trained, now
            self._changed = True
            job = self._job(key, trigger, now, datasets)
            if job is not None:
                state.in_flight = trigger
                jobs.append(job)
                self._count("trainings_started")
        self._save(now)
        return jobs

    def _job(
        self, key: ModelKey, trigger: Trigger, now: int, datasets: dict[str, Dataset]
    ) -> _Job | None:
        cfg = self.config
        if family(key.model).kind is FamilyKind.FORECASTER:
            return self._forecaster_job(key, trigger, now)
        dataset = datasets.get(key.scope)
        if dataset is None:
            read = self._read(key.scope, now - cfg.train_ms, now)
            dataset = datasets[key.scope] = training_rows(read, now, cfg.timeframe_ms)
        labelled = np.flatnonzero(~np.isnan(dataset.y))
        if len(labelled) <= cfg.validation_rows + key.horizon:
            self._count("trainings_skipped_short")
            return None
        first_validation = int(labelled[-cfg.validation_rows])
        # purge: training rows whose label window reaches into the validation rows
        train = dataset.rows(0, max(0, first_validation - key.horizon))
        validation = dataset.rows(first_validation, int(labelled[-1]) + 1)
        return _Job(
            str(key),
            key.model,
            TrainingWindow(dataset=train),
            validation,
            FitOptions(seed=cfg.seed, params=cfg.fit_params),
            self._store,
            trigger,
        )

    def _forecaster_job(self, key: ModelKey, trigger: Trigger, now: int) -> _Job | None:
        assert self._forecasters is not None  # checked in __init__
        config, read = self._forecasters
        cfg = self.config
        production = self._registry.production(key)
        job = forecaster_job(
            config, read, now, cfg.train_ms, cfg.validation_rows, cfg.seed, production
        )
        if job is None:
            self._count("trainings_skipped_short")
            return None
        if job.options.warm_start is not None:
            self._count("trainings_warm_started")
        return _Job(
            str(key), key.model, job.window, job.validation, job.options, self._store, trigger
        )

    def apply(self, results: list[_Result], landed_at: int) -> None:
        """Register each fitted candidate and hand it on (engine thread, at landing time)."""
        for result in results:
            self._state[result.job.line].in_flight = None
            self._changed = True
            if result.fitted is None:
                # said where the operator reads, not only counted: why a line cannot retrain
                log.warning(
                    "learning.training_failed",
                    line=result.job.line,
                    trigger=result.job.trigger.describe(),
                    error=result.error,
                )
                self._count("trainings_failed")
                continue
            trigger = result.job.trigger
            warm = result.fitted.metadata.hyperparameters.get("warm_start")
            start = f", fine-tuned from v{warm['from_version']}" if isinstance(warm, dict) else ""
            version = self._registry.register(
                result.fitted.metadata,
                result.fitted.digest,
                actor=ACTOR,
                reason=f"retrained on {trigger.describe()}{start}",
            )
            self._count("trainings_finished")
            self._on_candidate(Candidate(version, trigger, result.job.validation))
        self._save(landed_at)

    def _failed(self, error: WorkerJobError) -> None:
        # the batch failed (a worker process died mid-fit: the lines fitted beside it are lost
        # with it; one batch is in flight at a time): nothing is in flight now
        lines = [line for line, state in self._state.items() if state.in_flight is not None]
        log.error("learning.worker_failed", lines=lines, error=str(error))
        for state in self._state.values():
            state.in_flight = None
        self._changed = True
        self._count("trainings_failed")

    def _count(self, what: str, n: int = 1) -> None:
        if self._handle is not None:
            self._handle.count(what, n)

    # --- persistence ---------------------------------------------------------------------
    def _save(self, now: int) -> None:
        if self._repository is not None and self._changed:
            save_state(self._repository, self._state_key, self, now)
            self._changed = False

    def restore(self) -> bool:
        """Read the saved state back (after a restart); False when nothing was saved yet."""
        if self._repository is None:
            raise RuntimeError("LearningDaemon.restore: no state repository was given")
        return restore_state(self._repository, self._state_key, self)

    def to_state(self) -> dict[str, Any]:
        return {
            line: {
                "last_trained": s.last_trained,
                "waiting": [t.to_row() for t in s.waiting],
                "in_flight": None if s.in_flight is None else s.in_flight.to_row(),
                "before": s.before,
            }
            for line, s in self._state.items()
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for line, saved in state.items():
            if line not in self._state:
                continue
            restored = _LineState(
                int(saved["last_trained"]),
                [Trigger.from_row(row) for row in saved["waiting"]],
                before=int(saved.get("before", 0)),
            )
            # saved before trainings in flight were remembered: nothing in flight
            in_flight = saved.get("in_flight")
            if in_flight is not None:
                # died before it landed: train it again, first, as soon as the line may
                restored.waiting = [Trigger.from_row(in_flight)]
                restored.last_trained = int(saved["before"])
                self._count("trainings_resumed")
                self._changed = True
            self._state[line] = restored

    def waiting(self) -> dict[str, list[Trigger]]:
        return {line: list(s.waiting) for line, s in self._state.items() if s.waiting}
