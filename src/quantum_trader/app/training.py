"""Bootstrap training: make sure every enabled model has a PRODUCTION version before trading.

The training itself goes through the trainer port (``learning/trainers.py``); this module only
decides which lines need one and promotes what it trained.

A model line with a production version is left alone (continuous learning replaces it on
evidence). A missing one is trained on the ``train_days`` before the replay starts — never on
candles the replay will show — registered as a CANDIDATE with its lineage, and promoted by the
rule ``rule:bootstrap`` with that reason in the audit trail (the main job names itself,
``engine:<run id>``, as the actor instead).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.clock.clock import Clock
from quantum_trader.domain.time import fmt, timeframe_ms
from quantum_trader.features.dataset import Dataset, make_dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.features.pipeline import (
    FeatureConfig,
    FeatureMatrix,
    compute_universe_features,
)
from quantum_trader.features.series import CandleSeries, FundingSeries
from quantum_trader.learning.registry import ModelKey, ModelRegistry, ModelVersion, Stage
from quantum_trader.learning.trainers import (
    FORECAST_SCOPE,
    Closes,
    FamilyKind,
    FitOptions,
    TrainedVersion,
    TrainingWindow,
    family,
    train_and_register,
)
from quantum_trader.models.base import ModelMetadata, label_name
from quantum_trader.observability.logging import get_logger
from quantum_trader.status.registry import ModuleHandle

__all__ = [
    "BOOTSTRAP_ACTOR",
    "FORECAST_SCOPE",
    "TrainingReport",
    "ensure_forecast_models",
    "ensure_tabular_models",
    "training_dataset",
    "universe_features",
]

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
    features: FeatureMatrix | None = None,
) -> Dataset:
    """Features and labels for ``symbol`` from frames that already end before the replay;
    ``features``: its feature rows computed already (the universe's, :func:`universe_features`)."""
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
        features=features,
    )


def universe_features(
    timeframe: str,
    candles: Mapping[str, pd.DataFrame],
    funding: Mapping[str, pd.DataFrame | None],
    market: pd.DataFrame | None,
    config: FeatureConfig,
) -> dict[str, FeatureMatrix] | None:
    """Every symbol's feature rows at once when ``config`` has the universe features (they rank
    each symbol among the others); None otherwise (each symbol's dataset computes its own)."""
    if not config.universe:
        return None
    return compute_universe_features(
        {s: candle_series(s, timeframe, frame) for s, frame in candles.items()},
        {s: funding_series(s, funding.get(s)) for s in candles},
        None if market is None else candle_series(config.cross_asset, timeframe, market),
        config,
    )


log = get_logger(__name__)


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
    actor: str = BOOTSTRAP_ACTOR,
    serves_from: int | None = None,
) -> list[TrainingReport]:
    """One line per (tree model, symbol): trained on that symbol's dataset when missing;
    ``actor`` registers and promotes it in the audit trail. With ``serves_from`` (the replay's
    first engine time) a PRODUCTION version that learned labels closing after it is replaced
    (:func:`looks_ahead`)."""
    reports = []
    for name in models:
        if family(name).kind is not FamilyKind.TABULAR:
            continue
        for symbol, data in datasets.items():
            key = ModelKey(name, symbol, horizon)
            current = registry.production(key)
            stale = None if current is None else _learned_otherwise(current, data)
            if current is not None and stale is None:
                stale = looks_ahead(current, serves_from)
            if current is not None and stale is None:
                reports.append(TrainingReport(key, current.version, 0.0, 0, trained=False))
                continue
            if on_train is not None:
                on_train(f"{name} {symbol}")
            trained = train_and_register(
                name,
                TrainingWindow(dataset=data),
                FitOptions(),
                store=artifacts,
                registry=registry,
                actor=actor,
                reason=_bootstrap_reason,
                clock=clock,
                handle=handles.get(name),
            )
            reports.append(_promote(registry, trained, actor, stale))
    return reports


def looks_ahead(current: ModelVersion, serves_from: int | None) -> str | None:
    """Why ``current`` cannot serve a replay starting at ``serves_from`` (None: it can): the
    labels it learned close after that time. An earlier run may have promoted it after the
    same replay's start (a run killed and started again replays from the start), or a
    ``train`` on later candles; served from the start it would trade on what it learned from
    the candles it is about to decide on. Unknown windows (old metadata) serve as before."""
    window = current.metadata.training_window
    if serves_from is None or window is None:
        return None
    step = timeframe_ms(current.metadata.timeframe)
    labels_close = window[1] + (current.key.horizon + 1) * step
    if labels_close <= serves_from:
        return None
    return (
        f"version {current.version} learned labels closing up to {fmt(labels_close)}, after "
        f"this replay's start {fmt(serves_from)}: serving it would look ahead"
    )


def _learned_otherwise(current: ModelVersion, data: Dataset) -> str | None:
    """Why the PRODUCTION version cannot serve this run (None: it can): it reads other features
    or learned another label than the run's settings give (QT_FEATURES, QT_LABEL …)."""
    metadata = current.metadata
    if metadata.features != data.names:
        return (
            f"version {current.version} reads {len(metadata.features)} features, this run's "
            f"settings give {len(data.names)} (QT_FEATURES)"
        )
    spec = data.label_spec
    learned = label_name(spec.kind, spec.upper, spec.lower, spec.vol_span)
    if metadata.label != learned:
        return (
            f"version {current.version} learned the {metadata.label} label, this run's is {learned}"
        )
    if metadata.dead_zone != data.label_spec.dead_zone:
        return (
            f"version {current.version} learned a dead zone of {metadata.dead_zone}, this run's "
            f"label has {data.label_spec.dead_zone}"
        )
    return None


def _bootstrap_reason(metadata: ModelMetadata) -> str:
    window = metadata.training_window
    span = "?" if window is None else f"{window[0]}..{window[1]}"
    return f"bootstrap training on open times {span}"


def _promote(
    registry: ModelRegistry, trained: TrainedVersion, actor: str, replaces: str | None = None
) -> TrainingReport:
    version = trained.version
    registry.promote(
        version.key,
        version.version,
        actor=actor,
        reason=(
            "no PRODUCTION version existed; the engine cannot trade without one"
            if replaces is None
            else f"the PRODUCTION {replaces}: replaced by one trained for this run"
        ),
        to=Stage.PRODUCTION,
    )
    if replaces is not None:  # an operator may want it back: it stays in the registry
        log.warning(
            "model.production_replaced",
            line=str(version.key),
            why=replaces,
            by=f"v{version.version}",
            restore="quantum-trader models rollback, once no replay starts before it",
        )
    return TrainingReport(version.key, version.version, trained.seconds, trained.rows, True)


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
    actor: str = BOOTSTRAP_ACTOR,
    serves_from: int | None = None,
) -> list[TrainingReport]:
    """One global line per forecaster, trained on every symbol's history when missing (or
    when its PRODUCTION version looks ahead of ``serves_from``, :func:`looks_ahead`).

    The family trains in a spawned worker process (``learning/trainers.py``), so the serving
    process never imports torch; the worker's peak RSS is counted as the training's figure.
    """
    reports = []
    closes = tuple(
        Closes(s, f["open_time"].to_numpy(np.int64), f["close"].to_numpy(np.float64))
        for s, f in history.items()
    )
    for name in [m for m in models if family(m).kind is FamilyKind.FORECASTER]:
        key = ModelKey(name, FORECAST_SCOPE, labels.horizon)
        current = registry.production(key)
        ahead = None if current is None else looks_ahead(current, serves_from)
        if current is not None and ahead is None:
            reports.append(TrainingReport(key, current.version, 0.0, 0, trained=False))
            continue
        if on_train is not None:
            on_train(f"{name} on {', '.join(history)} (worker process)")
        trained = train_and_register(
            name,
            # one global line, whatever the symbols: the key looked up above
            TrainingWindow(closes=closes, labels=labels, scope=FORECAST_SCOPE),
            FitOptions(seed=seed),
            store=artifacts,
            registry=registry,
            actor=actor,
            reason=_bootstrap_reason,
            handle=handles.get(name),
        )
        reports.append(_promote(registry, trained, actor, ahead))
    return reports
