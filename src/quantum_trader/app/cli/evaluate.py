"""``quantum-trader evaluate``: walk-forward evaluation of the direction members vs baselines."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from quantum_trader.app.cli.render import console
from quantum_trader.app.configs import feature_config
from quantum_trader.app.configs import labels as label_spec
from quantum_trader.app.market_data import open_market_data
from quantum_trader.config.settings import load_settings
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.time import MS_PER_DAY, timeframe_ms
from quantum_trader.features.dataset import make_dataset
from quantum_trader.features.pipeline import compute_universe_features
from quantum_trader.learning.walk_forward import (
    ScoreRow,
    WalkForwardConfig,
    evaluate_symbol,
    summarise,
)

app = typer.Typer(help="Walk-forward evaluation of the direction models.")


DEFAULT_SYMBOLS = "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT,XRPUSDT"


@app.callback(invoke_without_command=True)
def evaluate(
    system: bool = typer.Option(
        False,
        "--system",
        help="walk-forward of the whole system (every fold replayed through the engine, next "
        "to buy and hold, Neutral, each strategy alone, a random selector)",
    ),
    symbols: Annotated[
        str | None,
        typer.Option(
            help=f"comma-separated symbols (default {DEFAULT_SYMBOLS}; --system: QT_SYMBOLS)"
        ),
    ] = None,
    train_days: Annotated[
        int | None, typer.Option(min=1, help="training window per fold (default 365)")
    ] = None,
    test_days: int = typer.Option(60, min=1, help="test window per fold (members)"),
    folds: Annotated[
        int | None, typer.Option(min=1, help="number of folds (default 4; --system: 8)")
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(
            help="comma-separated: xgb, lgbm, nhits, patchtst (default all four; "
            "--system: AI_ENGINE_ENSEMBLE_MODELS)"
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="--system: first fold's start (UTC date)")
    ] = None,
    end: Annotated[str | None, typer.Option(help="--system: last fold's end (UTC date)")] = None,
    window: Annotated[
        str, typer.Option(help="--system: sliding or expanding training windows")
    ] = "sliding",
    embargo_hours: Annotated[
        int,
        typer.Option(min=0, help="--system: candles left out between training and each fold"),
    ] = 0,
    forecast_epochs: Annotated[
        int | None, typer.Option(min=1, help="max epochs of nhits/patchtst (default: theirs)")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="folder that feeds the store (default QT_DATA_DIR)")
    ] = None,
    baselines: Annotated[
        str,
        typer.Option(
            help="--system: the baselines replayed beside the system: all, none, or names "
            "separated by commas (buy_and_hold, neutral, only_TrendFollowing, …)"
        ),
    ] = "all",
) -> None:
    """Train and test on rolling windows per symbol; print models next to baselines."""
    # the counts take min=1 above: ``folds or 8`` below would read a 0 as the default
    if system:
        from quantum_trader.app.cli.evaluate_system import baseline_variants, evaluate_system
        from quantum_trader.domain.errors import ConfigError

        try:
            chosen = baseline_variants(baselines)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="--baselines") from exc
        evaluate_system(
            console(),
            symbols=symbols,
            start=start,
            end=end,
            folds=folds or 8,
            train_days=train_days or 365,
            window=window,
            embargo_hours=embargo_hours,
            models=models,
            data_dir=data_dir,
            baselines=chosen,
        )
        return
    symbols = symbols or DEFAULT_SYMBOLS
    train_days = train_days or 365
    folds = folds or 4
    models = models or "xgb,lgbm,nhits,patchtst"
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
    features = feature_config(settings)
    labels = label_spec(settings)
    names = [s.strip() for s in symbols.split(",") if s.strip()]
    data = open_market_data(settings, settings.timeframe, data_dir or settings.data_dir)
    try:
        market = data.series(features.cross_asset)
    except DataError as exc:
        raise typer.BadParameter(f"{exc} (or give --data-dir / set QT_DATA_DIR)") from exc
    universe = (
        compute_universe_features(
            {s: data.series(s) for s in names},
            {s: data.funding(s) for s in names},
            market,
            features,
        )
        if features.universe
        else {}
    )
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
                features=universe.get(symbol),
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
        "Brier",
        "ECE",
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
            "—" if math.isnan(r.brier) else f"{r.brier:.3f}",
            "—" if math.isnan(r.ece) else f"{r.ece:.3f}",
            f"{r.macro_f1:.3f}",
            str(r.trades),
            f"{r.mean_net_bps:+.1f}",
            f"{r.hit_rate:.3f}",
        )
    return table
