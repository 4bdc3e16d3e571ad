"""``quantum-trader evaluate --system``: the walk-forward of the whole system, with baselines.

Every fold trains the enabled models on its own training window and replays the fold through
the same engine as ``run`` (``app/system_evaluation.py``), for the system and for each baseline
(``evaluation/folds.py``). It prints each variant's figures per fold and in total, the system's
Sharpe against each baseline with a block-bootstrap interval, PSR and DSR; writes them as JSON
and an HTML report under ``$QT_HOME/evaluations/<id>/``; and records every variant in the trial
ledger (``quantum-trader trials list``), whose count of trials the DSR deflates by.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.app.code_version import code_version
from quantum_trader.app.market_data import open_market_data
from quantum_trader.app.storage import open_settings_database
from quantum_trader.app.system_evaluation import EngineFoldRunner
from quantum_trader.backtester.evaluation_report import write_evaluation_report
from quantum_trader.config.settings import load_settings
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR, fmt, from_datetime, timeframe_ms
from quantum_trader.evaluation.folds import BASELINES, SYSTEM, Fold, Variant, plan_folds
from quantum_trader.evaluation.ledger import Trial, config_hash, dsr_inputs, per_candle_sharpe
from quantum_trader.evaluation.summary import COLUMNS, readings, row, to_payload
from quantum_trader.evaluation.system import (
    Stopwatch,
    SystemEvaluation,
    VariantRun,
    compare,
    evaluate_variants,
)

#: the test days of a fold when --start is not given
DEFAULT_FOLD_DAYS = 90


def _day(text: str, option: str) -> int:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: not a date (give e.g. 2022-06-01)") from None
    return from_datetime(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def evaluate_system(
    console: Console,
    *,
    symbols: str | None,
    start: str | None,
    end: str | None,
    folds: int,
    train_days: int,
    window: str,
    embargo_hours: int,
    models: str | None,
    data_dir: Path | None,
) -> SystemEvaluation:
    """Run the evaluation, print it, write it, record it (see the module docstring)."""
    if window not in ("sliding", "expanding"):
        raise ConfigError(f"--window {window!r}: give sliding or expanding")
    overrides: dict[str, Any] = {}
    if symbols:
        overrides["symbols"] = [s.strip() for s in symbols.split(",") if s.strip()]
    if models:
        overrides["ensemble_models"] = [m.strip() for m in models.split(",") if m.strip()]
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = load_settings(**overrides, offline=True)
    last = _last_common_close(settings)
    stop = _day(end, "--end") if end else last - last % MS_PER_DAY
    first = _day(start, "--start") if start else stop - folds * DEFAULT_FOLD_DAYS * MS_PER_DAY
    plan = plan_folds(
        start=first,
        end=stop,
        folds=folds,
        train_days=train_days,
        embargo_ms=embargo_hours * MS_PER_HOUR,
        window=window,  # type: ignore[arg-type]  # checked above
    )
    key = json.dumps([sorted(settings.symbols), first, stop, folds, train_days, window,
                      embargo_hours, settings.ensemble_models, datetime.now(UTC).isoformat()])  # fmt: skip
    folder = settings.home / "evaluations" / f"sys-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    tf_ms = timeframe_ms(settings.timeframe)
    runner = EngineFoldRunner(
        overrides, folder, embargo_candles=embargo_hours * MS_PER_HOUR // tf_ms
    )
    variants = (SYSTEM, *BASELINES)
    console.print(
        f"system walk-forward: {', '.join(settings.symbols)} {settings.timeframe}, "
        f"{fmt(first)} → {fmt(stop)}, {folds} folds, {window} training windows of "
        f"{train_days} d, embargo {embargo_hours} h, models {','.join(settings.ensemble_models)}"
        f"; folder {folder}"
    )
    watch = Stopwatch()

    def progress(fold: Fold, variant: Variant, run: VariantRun | None) -> None:
        took = "same settings as an earlier variant" if run is None else f"{run.seconds:.1f} s"
        console.print(f"  fold {fold.index + 1}/{folds} {variant.name}: {took}")

    results = evaluate_variants(
        plan,
        variants,
        runner,
        timeframe=settings.timeframe,
        horizon=settings.label_horizon,
        on_run=progress,
    )
    ledger = SqlTrialLedger(open_settings_database(load_settings()))
    version = code_version()
    for name, result in results.items():
        config = {**runner.config_of(result.variant), "folds": folds, "train_days": train_days,
                  "window": window, "embargo_hours": embargo_hours}  # fmt: skip
        ledger.record(
            Trial(
                kind="evaluate",
                name=name if name == "system" else f"baseline:{name}",
                config_hash=config_hash({k: str(v) for k, v in config.items()}),
                code_version=version,
                symbols=tuple(settings.symbols),
                timeframe=settings.timeframe,
                data_start=first,
                data_end=stop,
                seed=settings.seed,
                metrics={k: v for k, v in result.total.to_dict().items() if not isinstance(v, str)},
                sharpe=per_candle_sharpe(result.equity),
                periods=len(result.returns),
                recorded_at=from_datetime(datetime.now(UTC)),
                parent=folder.name,
            )
        )
    # per-candle Sharpe ratios of other timeframes are in other units: only this one's count
    n_trials, variance = dsr_inputs(
        [t for t in ledger.trials() if t.timeframe == settings.timeframe]
    )
    evaluation = compare(
        results,
        timeframe=settings.timeframe,
        trials=n_trials,
        trial_sharpe_variance=variance,
        seed=settings.seed,
        folds=plan,
        seconds=watch.seconds,
    )
    payload = to_payload(
        evaluation,
        symbols=list(settings.symbols),
        models=list(settings.ensemble_models),
        start=fmt(first),
        end=fmt(stop),
        window=window,
        train_days=train_days,
        embargo_hours=embargo_hours,
        code_version=version,
        folder=str(folder),
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evaluation.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    market = open_market_data(settings, settings.timeframe, settings.data_dir)
    system = evaluation.system
    report = write_evaluation_report(
        payload,
        {name: (r.times, r.equity.tolist()) for name, r in evaluation.results.items()},
        folder / "report.html",
        frames={s: market.candles(s, first, stop) for s in settings.symbols},
        trades=[t for run in system.runs for t in run.trades],
        risk_timeline=[change for run in system.runs for change in run.risk_timeline],
    )
    _print(console, evaluation)
    console.print(f"JSON: {folder / 'evaluation.json'}\nreport: {report}")
    return evaluation


def _last_common_close(settings: Any) -> int:
    """The open time of the newest candle every symbol has (the default end)."""
    market = open_market_data(settings, settings.timeframe, settings.data_dir)
    return min(int(market.series(s).open_time[-1]) for s in settings.symbols)


def _print(console: Console, evaluation: SystemEvaluation) -> None:
    total = Table(title="System walk-forward, all folds (out of sample, after costs)")
    total.add_column("variant")
    for _, title, _ in COLUMNS:
        total.add_column(title, justify="right")
    total.add_column("system − this Sharpe (95 % CI)", justify="right")
    for name, result in evaluation.results.items():
        ci = evaluation.comparisons.get(name)
        versus = "" if ci is None else f"{ci.point:+.2f} [{ci.low:+.2f}, {ci.high:+.2f}]"
        label = name if result.same_as is None else f"{name} (= {result.same_as})"
        total.add_row(label, *row(result.total), versus)
    console.print(total)
    folds = Table(title="System per fold")
    folds.add_column("fold")
    for _, title, _ in COLUMNS:
        folds.add_column(title, justify="right")
    for fold, figures in zip(evaluation.folds, evaluation.system.folds, strict=True):
        folds.add_row(f"{fold.index + 1}: {fmt(fold.start)[:10]}", *row(figures))
    console.print(folds)
    seen = readings(evaluation)
    share = seen["cost_share"]
    console.print(
        f"PSR {evaluation.psr:.3f}; DSR {evaluation.dsr:.3f} over {evaluation.trials} trial(s) "
        f"in the ledger (Sharpe variance {evaluation.trial_sharpe_variance:.2e} per candle); "
        f"fees + funding = {'—' if share is None else f'{share:.0%}'} of the trades' absolute "
        f"gross PnL; {evaluation.seconds:.0f} s"
    )
