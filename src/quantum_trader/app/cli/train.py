"""``quantum-trader train``: train any of the four members and register each as a CANDIDATE.

One command for all of them: xgb / lgbm (one line per symbol, on the features and labels of its
newest ``--days``) and nhits / patchtst (one line over all given symbols' closes: scope the
symbol, or ``global`` for several). Every artifact goes into the content-addressed
:class:`~quantum_trader.adapters.artifacts.LocalArtifactStore` and is registered with its
lineage (training window, data hash, hyperparameters, metrics) by ``cli:<user>``; promote it with
``quantum-trader models promote``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.table import Table

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.app.cli.models import actor_name, open_registry
from quantum_trader.app.market_data import MarketData, open_market_data
from quantum_trader.clock.clock import Clock, WallClock
from quantum_trader.config import load_settings
from quantum_trader.domain.errors import ConfigError, DataError
from quantum_trader.domain.time import MS_PER_DAY, fmt
from quantum_trader.features.dataset import Dataset, make_dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.features.pipeline import FeatureConfig
from quantum_trader.features.series import CandleSeries
from quantum_trader.learning.registry import ModelRegistry, ModelVersion
from quantum_trader.models.base import ModelMetadata
from quantum_trader.models.forecasting.spec import ARCHITECTURES, Architecture
from quantum_trader.models.tabular.training import TABULAR_MODELS, train_tabular
from quantum_trader.status import ModuleHandle

MODELS: tuple[str, ...] = (*TABULAR_MODELS, *ARCHITECTURES)

app = typer.Typer(help="Train ensemble members and register them as candidates.")


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Where the candles come from (store and timeframe) and which slice and labels a training uses."""

    market: MarketData
    days: int
    labels: LabelSpec

    def candles(self, symbol: str) -> CandleSeries:
        """The newest ``days`` of ``symbol``'s candles."""
        series = self.market.series(symbol)
        end = int(series.open_time[-1])
        return series.between(end - self.days * MS_PER_DAY, end)

    def dataset(self, symbol: str, features: FeatureConfig) -> Dataset:
        market = None
        if symbol != features.cross_asset:
            market = self.market.series(features.cross_asset)
        return make_dataset(
            self.candles(symbol),
            self.market.funding(symbol),
            market,
            labels=self.labels,
            config=features,
        )


@dataclass(frozen=True, slots=True)
class TrainedMember:
    version: ModelVersion
    seconds: float


def parse_models(text: str) -> list[str]:
    """``"xgb, nhits"`` → names, refusing unknown ones.

    >>> parse_models("patchtst, xgb")
    ['patchtst', 'xgb']
    """
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in MODELS]
    if not names or unknown:
        raise ConfigError(f"--models={text!r}: unknown {unknown or 'none given'}; known {MODELS}")
    return names


def train_members(
    models: Sequence[str],
    symbols: Sequence[str],
    data: TrainingData,
    *,
    store: LocalArtifactStore,
    registry: ModelRegistry,
    actor: str,
    clock: Clock,
    epochs: int | None = None,
    seed: int | None = None,
    progress: bool = False,
    status: Mapping[str, ModuleHandle] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> list[TrainedMember]:
    """Train, store and register (as CANDIDATE) each model; see the module docstring.

    ``status`` maps model names to module handles that count the trainings and artifacts.
    """
    handles = status or {}
    out: list[TrainedMember] = []
    for name in models:
        started = time.perf_counter()
        if name in TABULAR_MODELS:
            for symbol in symbols:
                if on_step is not None:
                    on_step(f"{name} {symbol}")
                started = time.perf_counter()
                model = train_tabular(
                    name,
                    data.dataset(symbol, FeatureConfig()),
                    clock=clock,
                    handle=handles.get(name),
                )
                digest = store.put(model.save)
                out.append(_register(registry, model.metadata, digest, actor, clock, started))
            continue
        if on_step is not None:
            on_step(f"{name} {', '.join(symbols)}")
        metadata, digest = _train_forecaster(
            cast(Architecture, name), symbols, data, store, epochs, seed, progress
        )
        if name in handles:
            handles[name].count("trainings_run")
            handles[name].count("artifacts_written")
        out.append(_register(registry, metadata, digest, actor, clock, started))
    return out


def _train_forecaster(
    name: Architecture,
    symbols: Sequence[str],
    data: TrainingData,
    store: LocalArtifactStore,
    epochs: int | None,
    seed: int | None,
    progress: bool,
) -> tuple[ModelMetadata, str]:
    # torch is imported only here: the main CLI loads every sub-app, and ``status`` or
    # ``run`` should not pay its ~190 MiB / ~1 s import for a command they do not run.
    from quantum_trader.models.forecasting import candles as forecasting

    series = [forecasting.CloseSeries.from_candles(data.candles(s)) for s in symbols]
    model, metadata = forecasting.train_candle_forecaster(
        name, series, data.labels, epochs=epochs, seed=seed, progress=progress
    )
    digest = store.put(partial(forecasting.save_candle_member, model, metadata))
    stored = ModelMetadata.from_json((store.open(digest) / "metadata.json").read_text())
    return stored, digest


def _register(
    registry: ModelRegistry,
    metadata: ModelMetadata,
    digest: str,
    actor: str,
    clock: Clock,
    started: float,
) -> TrainedMember:
    window = metadata.training_window
    span = "" if window is None else f" on open times {fmt(window[0])} → {fmt(window[1])}"
    when = datetime.fromtimestamp(clock.now() / 1000, UTC).isoformat(timespec="seconds")
    version = registry.register(
        metadata, digest, actor=actor, reason=f"trained by CLI at {when}{span}"
    )
    return TrainedMember(version, time.perf_counter() - started)


@app.command("train")
def train(
    models: Annotated[str, typer.Option(help=f"Comma-separated, of {','.join(MODELS)}")] = ",".join(
        MODELS
    ),
    symbol: Annotated[
        list[str] | None,
        typer.Option(help="Repeat for several: one tree model each; one global forecaster"),
    ] = None,
    days: Annotated[int, typer.Option(help="Train on the newest N days of candles")] = 730,
    timeframe: Annotated[str | None, typer.Option(help="Candle timeframe, e.g. 1h")] = None,
    epochs: Annotated[int | None, typer.Option(help="nhits/patchtst max epochs")] = None,
    seed: Annotated[int | None, typer.Option(help="Forecaster seed (default: settings)")] = None,
    artifacts_dir: Annotated[Path | None, typer.Option(help="Artifact store root")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder that feeds the store (default QT_DATA_DIR)")
    ] = None,
    actor: Annotated[str | None, typer.Option("--by", help="Who (default: cli:<user>)")] = None,
    progress: Annotated[bool, typer.Option(help="Show the forecasters' epoch bars")] = True,
) -> None:
    """Train members on stored candles; store the artifacts; register each as a CANDIDATE."""
    console = Console()
    settings = load_settings()
    try:
        names = parse_models(models)
        tf = timeframe or settings.timeframe
        data = TrainingData(
            open_market_data(settings, tf, data_dir or settings.data_dir),
            days,
            LabelSpec(horizon=settings.label_horizon, dead_zone=2 * settings.taker_fee),
        )
        with console.status("training") as spinner:
            results = train_members(
                names,
                symbol or [settings.symbols[0]],
                data,
                store=LocalArtifactStore(artifacts_dir or settings.effective_artifacts_dir),
                registry=open_registry(settings),
                actor=actor_name(actor),
                clock=WallClock(),
                epochs=epochs,
                seed=settings.seed if seed is None else seed,
                progress=progress,
                on_step=lambda text: spinner.update(f"training {text}"),
            )
    except (ConfigError, DataError) as exc:
        console.print(f"[red]train failed:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    console.print(trained_table(results))


def trained_table(results: Sequence[TrainedMember]) -> Table:
    table = Table(title="Registered candidates")
    for column in ("model line", "version", "stage", "trained on", "seconds", "artifact"):
        table.add_column(column)
    for item in results:
        v = item.version
        window = v.metadata.training_window
        table.add_row(
            str(v.key),
            str(v.version),
            v.stage.value,
            f"{fmt(window[0])[:10]} → {fmt(window[1])[:10]}" if window else "",
            f"{item.seconds:.1f}",
            v.artifact_hash,
        )
    return table
