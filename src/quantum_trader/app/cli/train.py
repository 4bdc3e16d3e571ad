"""``train``: fit the deep forecasting members (N-HiTS, PatchTST) on stored candles.

Writes one artifact directory per model under ``<artifacts>/<model>/<scope>-<timeframe>/<version>``
(config, safetensors weights, ONNX, manifest with sha256, ``metadata.json`` with lineage) and
prints what it wrote, so the model registry can record it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.table import Table

from quantum_trader.config import load_settings
from quantum_trader.domain.errors import ConfigError, DataError
from quantum_trader.domain.time import timeframe_ms
from quantum_trader.features.labels import LabelSpec
from quantum_trader.models.base import ModelMetadata
from quantum_trader.models.forecasting.spec import ARCHITECTURES, Architecture
from quantum_trader.status import ModuleHandle

FORECAST_MODELS = ARCHITECTURES

app = typer.Typer(help="Train ensemble members.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Training commands."""


@dataclass(frozen=True, slots=True)
class TrainedArtifact:
    metadata: ModelMetadata
    directory: Path


def parse_models(text: str) -> list[Architecture]:
    """``"nhits,patchtst"`` → names, refusing unknown ones.

    >>> parse_models("patchtst, nhits")
    ['patchtst', 'nhits']
    """
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in FORECAST_MODELS]
    if not names or unknown:
        raise ConfigError(
            f"--models={text!r}: unknown {unknown or 'none given'}; this command trains "
            f"{list(FORECAST_MODELS)}"
        )
    return [cast(Architecture, n) for n in names]


def train_forecasters(
    models: list[Architecture],
    symbols: list[str],
    timeframe: str,
    data_dir: Path,
    artifacts_dir: Path,
    labels: LabelSpec,
    *,
    years: float = 2.0,
    epochs: int | None = None,
    seed: int | None = None,
    progress: bool = True,
    status: Mapping[str, ModuleHandle] | None = None,
) -> list[TrainedArtifact]:
    """Train each model on the last ``years`` of every symbol (jointly) and save it.

    ``status`` maps model names to their module handles, which count ``trainings_run`` and
    ``artifacts_written`` as evidence for ``quantum-trader status``.
    """
    # Imported here, not at the top: the main CLI loads every sub-app, and ``status`` or
    # ``run`` should not pay torch's ~190 MiB / ~1 s import for a command they do not run.
    from quantum_trader.models.forecasting.candles import (
        CandleSeries,
        save_candle_member,
        train_candle_forecaster,
    )
    from quantum_trader.models.forecasting.data import read_candles

    rows = int(years * 365 * 24 * 3_600_000 // timeframe_ms(timeframe))
    series = [
        CandleSeries.from_frame(s, read_candles(data_dir, s, timeframe)).tail(rows) for s in symbols
    ]
    out: list[TrainedArtifact] = []
    for name in models:
        model, metadata = train_candle_forecaster(
            name,
            series,
            labels,
            epochs=epochs,
            seed=seed,
            progress=progress,
        )
        directory = artifacts_dir / name / f"{metadata.scope}-{timeframe}" / metadata.version
        final = save_candle_member(model, metadata, directory)
        out.append(TrainedArtifact(final, directory))
        if status is not None and name in status:
            status[name].count("trainings_run")
            status[name].count("artifacts_written")
    return out


@app.command("train")
def train(
    models: Annotated[str, typer.Option(help="Comma-separated: nhits,patchtst")] = "nhits,patchtst",
    symbol: Annotated[
        list[str] | None, typer.Option(help="Repeat for a multi-symbol model")
    ] = None,
    timeframe: Annotated[str | None, typer.Option(help="Candle timeframe, e.g. 1h")] = None,
    epochs: Annotated[int | None, typer.Option(help="Max epochs (default per model)")] = None,
    years: Annotated[float, typer.Option(help="Years of history to train on")] = 2.0,
    seed: Annotated[int | None, typer.Option(help="Seed (default: settings)")] = None,
    artifacts_dir: Annotated[Path | None, typer.Option(help="Where artifacts go")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Market data directory")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
) -> None:
    """Train N-HiTS / PatchTST on stored candles and write hashed artifacts."""
    console = Console()
    settings = load_settings()
    try:
        names = parse_models(models)
        source = data_dir or settings.data_dir
        if source is None:
            raise ConfigError("no market data: pass --data-dir or set QT_DATA_DIR")
        results = train_forecasters(
            names,
            symbol or [settings.symbols[0]],
            timeframe or settings.timeframe,
            source,
            artifacts_dir or settings.effective_artifacts_dir,
            LabelSpec(horizon=settings.label_horizon, dead_zone=2 * settings.taker_fee),
            years=years,
            epochs=epochs,
            seed=settings.seed if seed is None else seed,
            progress=progress,
        )
    except (ConfigError, DataError) as exc:
        console.print(f"[red]train failed:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    table = Table(title="trained forecasting members")
    for column in ("model", "scope", "epochs", "val pinball", "seconds"):
        table.add_column(column)
    for item in results:
        m = item.metadata
        table.add_row(
            m.name,
            m.scope,
            f"{m.metrics['epochs_run']:.0f}",
            f"{m.metrics['validation_pinball']:.6f}",
            f"{m.metrics['train_seconds']:.1f}",
        )
    console.print(table)
    for item in results:
        console.print(
            f"{item.metadata.name}: {item.directory} sha256={item.metadata.artifact_hash}",
            soft_wrap=True,
        )
