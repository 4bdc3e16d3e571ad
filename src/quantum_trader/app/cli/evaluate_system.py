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
from collections.abc import Mapping, Sequence
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
from quantum_trader.app.training_backend import fold_worker
from quantum_trader.backtester.evaluation_report import write_evaluation_report
from quantum_trader.config.settings import load_settings
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR, fmt, from_datetime, timeframe_ms
from quantum_trader.evaluation.folds import BASELINES, SYSTEM, Fold, Variant, plan_folds
from quantum_trader.evaluation.ledger import (
    BASELINE_PREFIX,
    Trial,
    config_hash,
    dsr_inputs,
    per_candle_sharpe,
)
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
#: settings the evaluation decides itself for every fold (``EngineFoldRunner.fold_settings``),
#: which settings overrides may not change → what decides them
EVALUATION_DECIDES: Mapping[str, str] = {
    "offline": "an evaluation replays offline",
    "train_days": "each fold's training window gives it (--train-days)",
    "home": "each fold has its own home under the evaluation's folder",
    "database_url": "each fold has its own database",
    "artifacts_dir": "each fold keeps its own artifacts",
    "store_dir": "the candle store is the home's",
}


def _day(text: str, option: str) -> int:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: not a date (give e.g. 2022-06-01)") from None
    return from_datetime(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def baseline_variants(text: str) -> tuple[Variant, ...]:
    """The baselines ``--baselines`` names: ``all`` (every one, in their order), ``none``, or
    names separated by commas (in ``BASELINES``' order, each once).

    >>> [v.name for v in baseline_variants("neutral, buy_and_hold")]
    ['buy_and_hold', 'neutral']
    >>> baseline_variants("none")
    ()
    """
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    if wanted == {"all"}:
        return BASELINES
    if wanted == {"none"}:
        return ()
    known = [v.name for v in BASELINES]
    unknown = sorted(wanted - set(known))
    if unknown or not wanted:
        raise ConfigError(
            f"{text!r}: unknown baseline(s) {', '.join(unknown) or '(none named)'}; "
            f"give all, none, or some of {', '.join(known)} separated by commas"
        )
    return tuple(v for v in BASELINES if v.name in wanted)


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
    baselines: Sequence[Variant] = BASELINES,
    settings_overrides: Mapping[str, Any] | None = None,
    trial_name: str = "system",
    folder: Path | None = None,
    parent: str | None = None,
) -> SystemEvaluation:
    """Run the evaluation, print it, write it, record it (see the module docstring).

    ``baselines``: the baselines replayed beside the system (:func:`baseline_variants`).
    ``settings_overrides``: settings (``Settings`` field → value) over the environment's and the
    options', for every fold's run of every variant, and hashed into the trials' configuration;
    ``trial_name``: the system's name in the ledger; ``folder``: where the evaluation is kept
    (default ``$QT_HOME/evaluations/sys-<id>``); ``parent``: what its trials belong to (default
    the folder's name). A study (``app/cli/study.py``) runs each candidate this way."""
    if window not in ("sliding", "expanding"):
        raise ConfigError(f"--window {window!r}: give sliding or expanding")
    overrides: dict[str, Any] = {}
    if symbols:
        overrides["symbols"] = [s.strip() for s in symbols.split(",") if s.strip()]
    if models:
        overrides["ensemble_models"] = [m.strip() for m in models.split(",") if m.strip()]
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    extra = dict(settings_overrides or {})
    decided = sorted(set(extra) & set(EVALUATION_DECIDES))
    if decided:
        raise ConfigError(
            "; ".join(f"setting {k}: {EVALUATION_DECIDES[k]}, not an override" for k in decided)
        )
    overrides.update(extra)
    settings = load_settings(**{**overrides, "offline": True})
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
    if folder is None:
        key = json.dumps([sorted(settings.symbols), first, stop, folds, train_days, window,
                          embargo_hours, settings.ensemble_models, trial_name,
                          sorted(extra), datetime.now(UTC).isoformat()], default=str)  # fmt: skip
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        folder = settings.home / "evaluations" / f"sys-{digest}"
    tf_ms = timeframe_ms(settings.timeframe)
    runner = EngineFoldRunner(
        overrides, folder, embargo_candles=embargo_hours * MS_PER_HOUR // tf_ms
    )
    variants = (SYSTEM, *baselines)
    console.print(
        f"system walk-forward: {', '.join(settings.symbols)} {settings.timeframe}, "
        f"{fmt(first)} → {fmt(stop)}, {folds} folds, {window} training windows of "
        f"{train_days} d, embargo {embargo_hours} h, models {','.join(settings.ensemble_models)}"
        f"; folder {folder}"
        + (f"; settings {_settings_text(extra)}" if extra else "")
        + ("" if baselines else "; no baselines")
    )
    watch = Stopwatch()

    def progress(fold: Fold, variant: Variant, run: VariantRun | None) -> None:
        took = "same settings as an earlier variant" if run is None else f"{run.seconds:.1f} s"
        console.print(f"  fold {fold.index + 1}/{folds} {variant.name}: {took}")

    # QT_TRAINING_BACKEND=ray: one Ray task per fold (app/training_backend.py), the same
    # figures as here; the default replays the folds one after the other in this process
    # (two cores: each fold's main job already trains in a worker process of its own)
    worker = fold_worker(settings, "evaluate-folds") if settings.training_backend == "ray" else None
    if worker is not None:
        worker.start()
    try:
        results = evaluate_variants(
            plan,
            variants,
            runner,
            timeframe=settings.timeframe,
            horizon=settings.label_horizon,
            on_run=progress,
            worker=worker,
        )
    finally:
        if worker is not None:
            worker.shutdown()
    ledger = SqlTrialLedger(open_settings_database(load_settings()))
    version = code_version()
    # the overridden settings' own values join the replay's (``REPLAY_SETTINGS``): a candidate
    # that changes the features or the label is another configuration
    changed = {name: getattr(runner.base, name) for name in sorted(extra)}
    for name, result in results.items():
        config = {**changed, **runner.config_of(result.variant), "folds": folds,
                  "train_days": train_days, "window": window,
                  "embargo_hours": embargo_hours}  # fmt: skip
        ledger.record(
            Trial(
                kind="evaluate",
                name=trial_name if name == "system" else f"{BASELINE_PREFIX}{name}",
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
                parent=parent or folder.name,
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


def _settings_text(overrides: Mapping[str, Any]) -> str:
    """Overridden settings as ``name=value`` pairs, for the header line."""
    return ", ".join(f"{k}={v}" for k, v in sorted(overrides.items()))


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
