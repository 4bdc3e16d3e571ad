"""One trainer port: the table of model families, and the train → store → register flow.

Every route that trains a member goes through here: bootstrap training before a run
(``app/training.py``), ``quantum-trader train`` (``app/cli/train.py``), the walk-forward
evaluation (``learning/walk_forward.py``) and continuous learning (``learning/daemon.py``, in
its own worker process: :func:`fit_in_this_process`). A family says what a
model is (tabular per symbol, or a forecaster over every symbol's closes), how it fits a window
into an artifact plus its lineage, how it is scored on a walk-forward fold, how a saved artifact
becomes an ensemble member, and whether it trains in a spawned worker: torch (~190 MiB) must
never be imported by the serving process, so the forecasters train in a process of their own.

:data:`FAMILIES` is the one table of model names; ``config.KNOWN_MODELS`` (which ``config``
cannot take from here: it sits below ``learning``) is checked against it by a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from quantum_trader.clock.clock import Clock
from quantum_trader.clock.workers import spawned_pool
from quantum_trader.features.dataset import Dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.learning.fold_models import FoldModel, forecast_fold, tabular_fold
from quantum_trader.learning.registry import ModelRegistry, ModelVersion
from quantum_trader.models.base import METADATA_FILE, ModelMetadata
from quantum_trader.models.ensemble.loading import ArtifactSource, MemberLoader, tabular_loader
from quantum_trader.models.forecasting.spec import Architecture
from quantum_trader.models.tabular import LgbmModel, TabularModel, XgbModel
from quantum_trader.models.tabular.training import train_tabular
from quantum_trader.status.registry import ModuleHandle

FORECAST_SCOPE = "global"  # one forecaster for every symbol: channel-independent, as PatchTST


class FamilyKind(StrEnum):
    TABULAR = "tabular"  # one line per symbol, fitted on that symbol's feature rows and labels
    FORECASTER = "forecaster"  # one global line, fitted on every symbol's closes


class ArtifactStore(ArtifactSource, Protocol):
    """Where artifacts go (the content-addressed store of ``adapters/artifacts.py``)."""

    def put(self, write: Callable[[Path], object]) -> str:
        """Let ``write`` fill a fresh folder, store it under its content hash, return that."""
        ...


@dataclass(frozen=True, slots=True)
class Closes:
    """One symbol's closes with their open times (epoch ms): what a forecaster reads."""

    symbol: str
    open_time: np.ndarray
    close: np.ndarray


@dataclass(frozen=True, slots=True)
class TrainingWindow:
    """The data one training reads, already cut to end before anything it will be judged on.

    A tabular family reads ``dataset`` (one symbol's feature rows and labels); a forecaster
    reads ``closes`` (every symbol's) with ``labels``.
    """

    dataset: Dataset | None = None
    closes: tuple[Closes, ...] = ()
    labels: LabelSpec | None = None
    #: a forecaster's model line (None: the symbol's for one series, else "global")
    scope: str | None = None

    @property
    def rows(self) -> int:
        if self.dataset is not None:
            return len(self.dataset)
        return sum(len(c.close) for c in self.closes)


@dataclass(frozen=True, slots=True)
class WarmStart:
    """The registered version a forecaster's training starts from, instead of from scratch."""

    version: int  # its registry version (recorded in the new version's lineage)
    artifact: str  # its address in the artifact store
    epochs: int  # a fine-tuning's epochs, in place of ``FitOptions.epochs``
    params: Mapping[str, Any] = field(default_factory=dict)  # and its TrainingConfig overrides
    #: fine-tune on the newest ``days`` of the fitted closes only (0: all of them); the
    #: calibration tail is the same either way (QT_FORECASTER_WARM_DAYS, docs/learning.md)
    days: int = 0


@dataclass(frozen=True, slots=True)
class FitOptions:
    """How to fit: seed and epochs (forecasters), hyperparameter overrides (tabular: the
    model's parameters; forecasters: fields of their ``TrainingConfig``, e.g. learning_rate),
    and a forecaster's warm start (None: from scratch; a tabular family refuses one)."""

    seed: int | None = None
    epochs: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    progress: bool = False
    warm_start: WarmStart | None = None


@dataclass(frozen=True, slots=True)
class Fitted:
    """An artifact in the store and its lineage, as stored."""

    metadata: ModelMetadata
    digest: str
    seconds: float
    worker_peak_kib: int | None = None  # peak RSS of the spawned worker that trained it


#: fit a window into an artifact: (window, options, store, clock, status handle) → Fitted
Fit = Callable[
    [TrainingWindow, FitOptions, ArtifactStore, Clock | None, ModuleHandle | None], Fitted
]


@dataclass(frozen=True, slots=True)
class ModelFamily:
    """One model family: what it is, how it trains, how it is scored and how it serves."""

    name: str
    kind: FamilyKind
    spawned: bool  # True: trains in a spawned worker process (it needs torch)
    fit: Fit
    fold: FoldModel  # fit on a walk-forward fold's train rows, score its test rows
    loader: Callable[[LabelSpec], MemberLoader]  # a saved artifact → an ensemble member


def _fit_tabular(
    cls: type[TabularModel],
    window: TrainingWindow,
    options: FitOptions,
    store: ArtifactStore,
    clock: Clock | None,
    handle: ModuleHandle | None,
) -> Fitted:
    if window.dataset is None:
        raise ValueError(f"{cls.name}: a tabular family trains on a dataset; the window has none")
    if options.warm_start is not None:
        raise ValueError(f"{cls.name}: a tabular family trains from scratch; no warm start")
    started = time.perf_counter()
    params = dict(options.params) or None
    model = train_tabular(cls, window.dataset, clock=clock, params=params, handle=handle)
    digest = store.put(model.save)
    return Fitted(model.metadata, digest, time.perf_counter() - started)


def _fit_forecaster(
    name: Architecture,
    window: TrainingWindow,
    options: FitOptions,
    store: ArtifactStore,
    clock: Clock | None,
    handle: ModuleHandle | None,
) -> Fitted:
    """Train and save a forecaster (in a worker process: torch lives and dies with it).

    A warm start loads the given version's weights from the store (hash-checked twice: the
    store's folder hash and the forecaster's manifest) and fine-tunes them; the lineage's
    ``hyperparameters["warm_start"]`` names that version (None: trained from scratch). A version
    of another spec (the sizes changed since it was trained) cannot be a starting point: the
    fit then runs from scratch with ``options.epochs``, and the lineage says why."""
    import resource

    from quantum_trader.models.forecasting import candles as forecasting
    from quantum_trader.models.forecasting.api import Forecaster

    if not window.closes or window.labels is None:
        raise ValueError(f"{name}: a forecaster trains on closes and labels; the window lacks them")
    started = time.perf_counter()
    series = [forecasting.CloseSeries(c.symbol, c.open_time, c.close) for c in window.closes]
    warm, initial, refused = options.warm_start, None, ""
    epochs, params, recent = options.epochs, dict(options.params), 0
    if warm is not None:
        production = Forecaster.load(store.open(warm.artifact))
        expected = forecasting.candle_forecaster(name, window.labels.horizon).spec
        if production.spec.to_json() == expected.to_json():  # as saved: tuples become lists
            initial, epochs, params = production, warm.epochs, {**params, **warm.params}
            recent = warm.days
        else:
            refused = f"v{warm.version} has another spec ({production.spec})"
    model, metadata = forecasting.train_candle_forecaster(
        name,
        series,
        window.labels,
        epochs=epochs,
        seed=options.seed,
        progress=options.progress,
        scope=window.scope,
        training=params,
        initial=initial,
        fit_days=recent,
    )
    if warm is not None:
        hyper = dict(metadata.hyperparameters)
        if initial is not None:
            hyper["warm_start"] = {
                **hyper["warm_start"],
                "from_version": warm.version,
                "from_artifact": warm.artifact,
            }
        else:
            hyper["warm_start_refused"] = refused
        metadata = replace(metadata, hyperparameters=hyper)
    digest = store.put(partial(forecasting.save_candle_member, model, metadata))
    stored = ModelMetadata.from_json((store.open(digest) / METADATA_FILE).read_text())
    peak_kib = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return Fitted(stored, digest, time.perf_counter() - started, peak_kib)


def _forecast_loader(labels: LabelSpec) -> MemberLoader:
    # onnxruntime is imported only by a process that serves a forecaster
    from quantum_trader.models.forecasting.member import forecast_loader

    return forecast_loader(labels)


def _tabular(cls: type[TabularModel]) -> ModelFamily:
    return ModelFamily(
        cls.name,
        FamilyKind.TABULAR,
        spawned=False,
        fit=partial(_fit_tabular, cls),
        fold=tabular_fold(cls),
        loader=lambda _labels: tabular_loader(cls),
    )


def _forecaster(name: Architecture) -> ModelFamily:
    return ModelFamily(
        name,
        FamilyKind.FORECASTER,
        spawned=True,
        fit=partial(_fit_forecaster, name),
        fold=forecast_fold(name),
        loader=_forecast_loader,
    )


#: every model family, in the order members are listed by default
FAMILIES: dict[str, ModelFamily] = {
    f.name: f
    for f in (
        _tabular(XgbModel),
        _tabular(LgbmModel),
        _forecaster("nhits"),
        _forecaster("patchtst"),
    )
}


def family(name: str) -> ModelFamily:
    """The family called ``name``; a clear error naming the known ones otherwise."""
    found = FAMILIES.get(name)
    if found is None:
        raise ValueError(f"unknown model {name!r}; known: {list(FAMILIES)}")
    return found


def names_of(kind: FamilyKind) -> tuple[str, ...]:
    """The families of one kind, in table order.

    >>> names_of(FamilyKind.FORECASTER)
    ('nhits', 'patchtst')
    """
    return tuple(n for n, f in FAMILIES.items() if f.kind is kind)


def default_scope(name: str, symbol: str) -> str:
    """The scope of ``name``'s model line that serves ``symbol``: the symbol, or global."""
    return FORECAST_SCOPE if family(name).kind is FamilyKind.FORECASTER else symbol


@dataclass(frozen=True, slots=True)
class _WorkerJob:
    name: str
    window: TrainingWindow
    options: FitOptions
    store: ArtifactStore


def _fit_in_worker(job: _WorkerJob) -> Fitted:
    """Runs in the spawned worker: the family is looked up there by name."""
    return FAMILIES[job.name].fit(job.window, job.options, job.store, None, None)


def fit_in_this_process(
    name: str, window: TrainingWindow, options: FitOptions, store: ArtifactStore
) -> Fitted:
    """Fit ``name`` here, whatever its family: for a caller that already is a worker process.

    The learning daemon's worker (``clock/workers.ProcessWorker``) is a spawned, daemonic,
    low-priority process: it may not start a child of its own (multiprocessing refuses children
    of daemonic processes), and needs none: torch entering it keeps torch out of the serving
    process just as well. Never call this from the serving process for a ``spawned`` family.
    """
    return family(name).fit(window, options, store, None, None)


def fit(
    name: str,
    window: TrainingWindow,
    options: FitOptions,
    store: ArtifactStore,
    *,
    clock: Clock | None = None,
    handle: ModuleHandle | None = None,
) -> Fitted:
    """Fit ``name`` on ``window`` into ``store``: in a spawned worker for families that need one.

    ``handle`` counts the evidence: a tabular model counts its own trainings and artifacts; for
    a spawned one the worker cannot reach the handle, so its trainings, artifacts and peak RSS
    are counted here.
    """
    chosen = family(name)
    if not chosen.spawned:
        return chosen.fit(window, options, store, clock, handle)
    with spawned_pool() as pool:  # its process dies with the engine
        fitted = pool.submit(_fit_in_worker, _WorkerJob(name, window, options, store)).result()
    if handle is not None:
        handle.count("trainings_run")
        handle.count("artifacts_written")
        if fitted.worker_peak_kib is not None:
            handle.count("training_worker_peak_rss_mib", fitted.worker_peak_kib // 1024)
    return fitted


@dataclass(frozen=True, slots=True)
class TrainedVersion:
    version: ModelVersion  # registered as a CANDIDATE
    seconds: float  # fit, store and register
    rows: int  # rows (tabular) or candles (forecasters) the window held


def train_and_register(
    name: str,
    window: TrainingWindow,
    options: FitOptions,
    *,
    store: ArtifactStore,
    registry: ModelRegistry,
    actor: str,
    reason: Callable[[ModelMetadata], str],
    clock: Clock | None = None,
    handle: ModuleHandle | None = None,
) -> TrainedVersion:
    """Fit ``name`` on ``window``, store the artifact, register it as a CANDIDATE with its lineage.

    ``reason`` words the audit trail's entry from the lineage (e.g. the training window).
    """
    started = time.perf_counter()
    fitted = fit(name, window, options, store, clock=clock, handle=handle)
    version = registry.register(
        fitted.metadata, fitted.digest, actor=actor, reason=reason(fitted.metadata)
    )
    return TrainedVersion(version, time.perf_counter() - started, window.rows)
