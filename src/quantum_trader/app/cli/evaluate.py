"""``quantum-trader evaluate``: walk-forward evaluation of the direction members vs baselines."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from quantum_trader.app.market_data import open_market_data
from quantum_trader.config.settings import load_settings
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.time import MS_PER_DAY, timeframe_ms
from quantum_trader.features.dataset import make_dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.features.pipeline import FeatureConfig
from quantum_trader.learning.walk_forward import (
    ScoreRow,
    WalkForwardConfig,
    evaluate_symbol,
    summarise,
)

app = typer.Typer(help="Walk-forward evaluation of the direction models.")


def console() -> Console:
    """A console per command, so the terminal width is read when the command runs."""
    return Console()


DEFAULT_SYMBOLS = "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT,XRPUSDT"


@app.callback(invoke_without_command=True)
def evaluate(
    symbols: str = typer.Option(DEFAULT_SYMBOLS, help="comma-separated symbols"),
    train_days: int = typer.Option(365, help="training window per fold"),
    test_days: int = typer.Option(60, help="test window per fold"),
    folds: int = typer.Option(4, help="number of folds (the newest ones)"),
    models: str = typer.Option(
        "xgb,lgbm,nhits,patchtst", help="comma-separated: xgb, lgbm, nhits, patchtst"
    ),
    forecast_epochs: Annotated[
        int | None, typer.Option(help="max epochs of nhits/patchtst (default: theirs)")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="folder that feeds the store (default QT_DATA_DIR)")
    ] = None,
) -> None:
    """Train and test on rolling windows per symbol; print models next to baselines."""
    settings = load_settings()
    hours = MS_PER_DAY // timeframe_ms(settings.timeframe)
    try:
        config = WalkForwardConfig(
            train_rows=train_days * hours,
            test_rows=test_days * hours,
            step_rows=test_days * hours,
            max_folds=folds,
            models=tuple(m.strip() for m in models.split(",") if m.strip()),
            seed=settings.seed,
            forecast_epochs=forecast_epochs,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    features = FeatureConfig()
    labels = LabelSpec(horizon=settings.label_horizon, dead_zone=2 * settings.taker_fee)
    names = [s.strip() for s in symbols.split(",") if s.strip()]
    data = open_market_data(settings, settings.timeframe, data_dir or settings.data_dir)
    try:
        market = data.series(features.cross_asset)
    except DataError as exc:
        raise typer.BadParameter(f"{exc} (or give --data-dir / set QT_DATA_DIR)") from exc
    rows: list[ScoreRow] = []
    with Progress(console=console(), transient=True) as progress:
        task = progress.add_task("evaluating", total=len(names) * folds * len(config.models))
        for symbol in names:
            candles = data.series(symbol)
            dataset = make_dataset(
                candles,
                data.funding(symbol),
                None if symbol == features.cross_asset else market,
                labels=labels,
                config=features,
            )

            def step(text: str) -> None:
                progress.update(task, advance=1, description=text)

            rows.extend(evaluate_symbol(dataset, config, progress=step, candles=candles))
    console().print(
        f"walk-forward: {folds} folds × (train {train_days} d, purge {labels.horizon} rows, "
        f"test {test_days} d); horizon {labels.horizon}, dead zone {labels.dead_zone:.4f}; "
        "trading metric acts on UP/DOWN for the horizon, net of the round-trip fee"
    )
    console().print(score_table(rows + summarise(rows)))


def score_table(rows: list[ScoreRow]) -> Table:
    table = Table(title="Walk-forward scores (out of sample)")
    for column in (
        "symbol",
        "model",
        "kind",
        "rows",
        "accuracy",
        "log-loss",
        "macro-F1",
        "trades",
        "net bps/trade",
        "hit rate",
    ):
        table.add_column(column, justify="right" if column not in ("symbol", "model") else "left")
    for r in rows:
        table.add_row(
            r.symbol,
            r.model,
            r.kind,
            str(r.rows),
            f"{r.accuracy:.3f}",
            "—" if math.isnan(r.log_loss) else f"{r.log_loss:.3f}",
            f"{r.macro_f1:.3f}",
            str(r.trades),
            f"{r.mean_net_bps:+.1f}",
            f"{r.hit_rate:.3f}",
        )
    return table
