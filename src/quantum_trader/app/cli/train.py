"""``quantum-trader train``: train any of the four members and register each as a CANDIDATE.

One command for all of them: xgb / lgbm (one line per symbol, on the features and labels of its
newest ``--days``) and nhits / patchtst (one line over all given symbols' closes: scope the
symbol, or ``global`` for several). Every artifact goes into the content-addressed
:class:`~quantum_trader.adapters.artifacts.LocalArtifactStore` and is registered with its
lineage (training window, data hash, hyperparameters, metrics) by ``cli:<user>``; promote it with
``quantum-trader models promote``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.app.cli.audit import actor_name
from quantum_trader.app.cli.models import open_registry
from quantum_trader.app.cli.options import known_timeframe, made_folder
from quantum_trader.app.configs import feature_config, labels
from quantum_trader.app.market_data import MarketData, open_market_data
from quantum_trader.clock.clock import Clock, WallClock
from quantum_trader.config import load_settings
from quantum_trader.domain.errors import ConfigError, DataError
from quantum_trader.domain.time import MS_PER_DAY, fmt
from quantum_trader.features.dataset import Dataset, make_dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.features.pipeline import (
    FeatureConfig,
    FeatureMatrix,
    compute_universe_features,
)
from quantum_trader.features.series import CandleSeries
from quantum_trader.learning.registry import ModelRegistry
from quantum_trader.learning.trainers import (
    FAMILIES,
    Closes,
    FamilyKind,
    FitOptions,
    TrainedVersion,
    TrainingWindow,
    family,
    train_and_register,
)
from quantum_trader.models.base import ModelMetadata
from quantum_trader.status import ModuleHandle

MODELS: tuple[str, ...] = tuple(FAMILIES)

app = typer.Typer(help="Train ensemble members and register them as candidates.")


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Where the candles come from (store and timeframe) and which slice and labels a training uses."""

    market: MarketData
    days: int
    labels: LabelSpec
    features: FeatureConfig = field(default_factory=FeatureConfig)
    #: the symbols the universe features rank a symbol among (QT_SYMBOLS; QT_FEATURES=universe)
    universe: tuple[str, ...] = ()

    def candles(self, symbol: str) -> CandleSeries:
        """The newest ``days`` of ``symbol``'s candles."""
        series = self.market.series(symbol)
        end = int(series.open_time[-1])
        return series.between(end - self.days * MS_PER_DAY, end)

    def universe_rows(
        self, symbols: Sequence[str], features: FeatureConfig
    ) -> Mapping[str, FeatureMatrix]:
        """The feature rows of ``symbols`` and the run's symbols, computed together once (the
        universe features rank each among the others); empty without universe features."""
        if not features.universe:
            return {}
        peers = sorted({*self.universe, *symbols})
        return compute_universe_features(
            {s: self.candles(s) for s in peers},
            {s: self.market.funding(s) for s in peers},
            self.market.series(features.cross_asset),
            features,
        )

    def dataset(
        self,
        symbol: str,
        features: FeatureConfig,
        universe: Mapping[str, FeatureMatrix] | None = None,
    ) -> Dataset:
        """``symbol``'s dataset; ``universe``: rows from :meth:`universe_rows`, computed here
        when not given."""
        market = None
        if symbol != features.cross_asset:
            market = self.market.series(features.cross_asset)
        if universe is None:
            universe = self.universe_rows([symbol], features)
        return make_dataset(
            self.candles(symbol),
            self.market.funding(symbol),
            market,
            labels=self.labels,
            config=features,
            features=universe.get(symbol),
        )


#: what one training gave: the registered CANDIDATE, seconds taken, rows read
TrainedMember = TrainedVersion


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

    Training goes through the trainer port (``learning/trainers.py``): the forecasters in a
    spawned worker, so this process never imports torch. ``status`` maps model names to module
    handles that count the trainings and artifacts.
    """
    handles = status or {}
    options = FitOptions(seed=seed, epochs=epochs, progress=progress)
    out: list[TrainedMember] = []
    for name in models:
        for window in _windows(name, symbols, data, on_step):
            trained = train_and_register(
                name,
                window,
                options,
                store=store,
                registry=registry,
                actor=actor,
                reason=cli_reason(clock),
                clock=clock,
                handle=handles.get(name),
            )
            out.append(trained)
    return out


def _windows(
    name: str,
    symbols: Sequence[str],
    data: TrainingData,
    on_step: Callable[[str], None] | None,
) -> Iterator[TrainingWindow]:
    """The windows ``name`` trains on, read one at a time: one per symbol for a tabular
    family, one over every symbol's closes for a forecaster."""
    if family(name).kind is FamilyKind.TABULAR:
        universe = data.universe_rows(symbols, data.features)  # once for every symbol
        for symbol in symbols:
            if on_step is not None:
                on_step(f"{name} {symbol}")
            yield TrainingWindow(dataset=data.dataset(symbol, data.features, universe))
        return
    if on_step is not None:
        on_step(f"{name} {', '.join(symbols)}")
    closes = tuple(Closes(c.symbol, c.open_time, c.close) for c in map(data.candles, symbols))
    yield TrainingWindow(closes=closes, labels=data.labels)


def cli_reason(clock: Clock) -> Callable[[ModelMetadata], str]:
    """The audit trail's words for a CLI training: when, and on which candles."""

    def reason(metadata: ModelMetadata) -> str:
        window = metadata.training_window
        span = "" if window is None else f" on open times {fmt(window[0])} → {fmt(window[1])}"
        when = datetime.fromtimestamp(clock.now() / 1000, UTC).isoformat(timespec="seconds")
        return f"trained by CLI at {when}{span}"

    return reason


@app.command("train")
def train(
    models: Annotated[str, typer.Option(help=f"Comma-separated, of {','.join(MODELS)}")] = ",".join(
        MODELS
    ),
    symbol: Annotated[
        list[str] | None,
        typer.Option(help="Repeat for several: one tree model each; one global forecaster"),
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="Train on the newest N days of candles")] = 730,
    timeframe: Annotated[str | None, typer.Option(help="Candle timeframe, e.g. 1h")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="nhits/patchtst max epochs")] = None,
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
        tf = known_timeframe(timeframe or settings.timeframe)
        artifacts = made_folder(
            artifacts_dir or settings.effective_artifacts_dir, "--artifacts-dir"
        )
        data = TrainingData(
            open_market_data(settings, tf, data_dir or settings.data_dir),
            days,
            labels(settings),
            feature_config(settings),
            tuple(settings.symbols),
        )
        with console.status("training") as spinner:
            results = train_members(
                names,
                symbol or [settings.symbols[0]],
                data,
                store=LocalArtifactStore(artifacts),
                registry=open_registry(settings),
                actor=actor_name(actor),
                clock=WallClock(),
                epochs=epochs,
                seed=settings.seed if seed is None else seed,
                progress=progress,
                on_step=lambda text: spinner.update(f"training {text}"),
            )
    except (ConfigError, DataError) as exc:
        console.print(f"[red]train failed:[/red] {escape(str(exc))}")
        raise typer.Exit(code=2) from exc
    console.print(trained_table(results))


def trained_table(results: Sequence[TrainedMember]) -> Table:
    table = Table(title="Registered candidates")
    for column in ("model line", "version", "stage", "trained on", "seconds", "artifact"):
        table.add_column(column)
    for item in results:
        v = item.version
        window = v.lineage.window
        table.add_row(
            str(v.key),
            str(v.version),
            v.stage.value,
            f"{fmt(window[0])[:10]} → {fmt(window[1])[:10]}" if window else "",
            f"{item.seconds:.1f}",
            v.artifact_hash,
        )
    return table
