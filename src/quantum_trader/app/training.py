"""Bootstrap training: make sure every enabled model has a PRODUCTION version before trading.

A model line with a production version is left alone (continuous learning replaces it on
evidence). A missing one is trained on the ``train_days`` before the replay starts — never on
candles the replay will show — registered as a CANDIDATE with its lineage, and promoted by the
rule ``rule:bootstrap`` with that reason in the audit trail.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.clock.clock import Clock
from quantum_trader.features.dataset import Dataset, make_dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.features.pipeline import FeatureConfig
from quantum_trader.features.series import CandleSeries, FundingSeries
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.models.base import ModelMetadata
from quantum_trader.models.tabular.training import TABULAR_MODELS, train_tabular
from quantum_trader.status.registry import ModuleHandle

BOOTSTRAP_ACTOR = "rule:bootstrap"


@dataclass(frozen=True, slots=True)
class TrainingReport:
    key: ModelKey
    version: int
    seconds: float
    rows: int
    trained: bool  # False: a production version already existed


def candle_series(symbol: str, timeframe: str, frame: pd.DataFrame) -> CandleSeries:
    """A store frame as the feature pipeline's series."""
    return CandleSeries.from_frame(symbol, timeframe, frame)


def funding_series(symbol: str, frame: pd.DataFrame | None) -> FundingSeries | None:
    if frame is None or frame.empty:
        return None
    return FundingSeries.from_frame(symbol, frame)


def training_dataset(
    symbol: str,
    timeframe: str,
    candles: pd.DataFrame,
    funding: pd.DataFrame | None,
    market: pd.DataFrame | None,
    labels: LabelSpec,
    config: FeatureConfig | None = None,
) -> Dataset:
    """Features and labels for ``symbol`` from frames that already end before the replay."""
    config = config or FeatureConfig()
    market_series = (
        candle_series(config.cross_asset, timeframe, market)
        if market is not None and symbol != config.cross_asset
        else None
    )
    return make_dataset(
        candle_series(symbol, timeframe, candles),
        funding_series(symbol, funding),
        market_series,
        labels=labels,
        config=config,
    )


def ensure_tabular_models(
    models: Sequence[str],
    datasets: Mapping[str, Dataset],
    *,
    horizon: int,
    registry: ModelRegistry,
    artifacts: LocalArtifactStore,
    clock: Clock,
    handles: Mapping[str, ModuleHandle],
    on_train: Callable[[str], None] | None = None,
) -> list[TrainingReport]:
    """One line per (tree model, symbol): trained on that symbol's dataset when missing."""
    reports = []
    for name in models:
        if name not in TABULAR_MODELS:
            continue
        for symbol, data in datasets.items():
            key = ModelKey(name, symbol, horizon)
            current = registry.production(key)
            if current is not None:
                reports.append(TrainingReport(key, current.version, 0.0, 0, trained=False))
                continue
            if on_train is not None:
                on_train(f"{name} {symbol}")
            started = time.perf_counter()
            model = train_tabular(name, data, scope=symbol, clock=clock, handle=handles.get(name))
            digest = artifacts.put(model.save)
            reports.append(
                _register_and_promote(
                    registry, model.metadata, digest, time.perf_counter() - started, len(data)
                )
            )
    return reports


def _register_and_promote(
    registry: ModelRegistry, metadata: ModelMetadata, digest: str, seconds: float, rows: int
) -> TrainingReport:
    window = metadata.training_window
    span = "?" if window is None else f"{window[0]}..{window[1]}"
    version = registry.register(
        metadata, digest, actor=BOOTSTRAP_ACTOR, reason=f"bootstrap training on open times {span}"
    )
    registry.promote(
        version.key,
        version.version,
        actor=BOOTSTRAP_ACTOR,
        reason="no PRODUCTION version existed; the engine cannot trade without one",
        to=Stage.PRODUCTION,
    )
    return TrainingReport(version.key, version.version, seconds, rows, trained=True)


FORECAST_SCOPE = "global"  # one forecaster for every symbol: channel-independent, as PatchTST


@dataclass(frozen=True, slots=True)
class _ForecastJob:
    name: str
    series: tuple[tuple[str, Any, Any], ...]  # (symbol, open_time array, close array)
    labels: LabelSpec
    seed: int
    artifacts_root: str


def _train_forecaster_in_worker(job: _ForecastJob) -> tuple[str, float, int]:
    """Runs in a worker process: train, save into the artifact store, return
    (digest, seconds, worker peak RSS in KiB). torch lives and dies with this process."""
    import resource

    from quantum_trader.models.forecasting.candles import (
        CloseSeries,
        save_candle_member,
        train_candle_forecaster,
    )
    from quantum_trader.models.forecasting.spec import ARCHITECTURES

    name = next(a for a in ARCHITECTURES if a == job.name)
    started = time.perf_counter()
    series = [CloseSeries(s, t, c) for s, t, c in job.series]
    model, metadata = train_candle_forecaster(
        name, series, job.labels, seed=job.seed, progress=False
    )
    digest = LocalArtifactStore(Path(job.artifacts_root)).put(
        partial(save_candle_member, model, metadata)
    )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return digest, time.perf_counter() - started, int(peak_kib)


def ensure_forecast_models(
    models: Sequence[str],
    history: Mapping[str, pd.DataFrame],
    *,
    labels: LabelSpec,
    registry: ModelRegistry,
    artifacts: LocalArtifactStore,
    seed: int,
    handles: Mapping[str, ModuleHandle],
    on_train: Callable[[str], None] | None = None,
) -> list[TrainingReport]:
    """One global line per forecaster, trained on every symbol's history when missing.

    Training runs in a separate (spawned) worker process, so the serving process never imports
    torch (~190 MiB); the worker's peak RSS is reported as the training budget's figure.
    """
    from quantum_trader.models.forecasting.spec import ARCHITECTURES

    reports = []
    series = tuple(
        (s, f["open_time"].to_numpy(np.int64), f["close"].to_numpy(np.float64))
        for s, f in history.items()
    )
    for name in [m for m in models if m in ARCHITECTURES]:
        key = ModelKey(name, FORECAST_SCOPE, labels.horizon)
        current = registry.production(key)
        if current is not None:
            reports.append(TrainingReport(key, current.version, 0.0, 0, trained=False))
            continue
        if on_train is not None:
            on_train(f"{name} on {', '.join(history)} (worker process)")
        job = _ForecastJob(name, series, labels, seed, str(artifacts.root))
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            digest, seconds, peak_kib = pool.submit(_train_forecaster_in_worker, job).result()
        saved = ModelMetadata.from_json((artifacts.open(digest) / "metadata.json").read_text())
        handle = handles.get(name)
        if handle is not None:
            handle.count("trainings_run")
            handle.count("artifacts_written")
            handle.count("training_worker_peak_rss_mib", peak_kib // 1024)
        rows = sum(len(f) for f in history.values())
        reports.append(_register_and_promote(registry, saved, digest, seconds, rows))
    return reports
