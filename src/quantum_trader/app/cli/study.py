"""``quantum-trader study CANDIDATES.toml``: many candidate configurations, one verdict.

Each candidate of the file (``[[candidate]]``, its settings in ``[candidate.settings]``;
``evaluation/study.py``) is walked forward by ``evaluate --system`` on the same folds — the
system only, no baselines — and recorded in the trial ledger as an ``evaluate`` trial named
``study:<candidate>``, its settings hashed into the configuration. Then the candidates are judged
together: each one's PSR and DSR (N and V from the ledger, this timeframe's trials, the
candidates among them) and the probability of backtest overfitting of picking the best of them.
The verdict is printed and written as ``study.json`` and ``study.md`` (a markdown table for the
docs) to ``--out`` (default ``$QT_HOME/studies/<id>/``); each candidate's own evaluation (its
folds, ``evaluation.json``, ``report.html``) is under ``$QT_HOME/evaluations/<id>/``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.app.cli.evaluate_system import EVALUATION_DECIDES, evaluate_system
from quantum_trader.app.code_version import code_version
from quantum_trader.app.storage import open_settings_database
from quantum_trader.config.settings import Settings, load_settings
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import fmt
from quantum_trader.evaluation.study import (
    COLUMNS,
    Candidate,
    CandidateRun,
    StudyResult,
    aligned_returns,
    judge,
    load_candidates,
    pbo_line,
    row_cells,
    study_trials,
    to_markdown,
    to_payload,
    trials_line,
)
from quantum_trader.evaluation.system import Stopwatch

app = typer.Typer(help="Studies: many candidate configurations walked forward, one verdict.")

#: settings a candidate may not change → why (the study decides them for every candidate)
STUDY_DECIDES: Mapping[str, str] = {
    **EVALUATION_DECIDES,
    "data_dir": "the study's --data-dir feeds every candidate",
    "timeframe": "a study's candidates share one timeframe (their per-candle returns are "
    "compared candle by candle)",
    "live": "a study replays history",
    "venue": "a study replays history on the simulated exchange",
    "binance_api_key": "a study replays history and needs no keys",
    "binance_api_secret": "a study replays history and needs no keys",
}


@app.command("study")
def study(
    candidates: Annotated[
        Path,
        typer.Argument(
            metavar="CANDIDATES.toml",
            help=r"TOML file of \[\[candidate]] tables (see studies/edge.toml)",
        ),
    ],
    folds: Annotated[int, typer.Option(min=1, help="number of folds")] = 8,
    train_days: Annotated[int, typer.Option(min=1, help="training window per fold, days")] = 365,
    start: Annotated[str | None, typer.Option(help="first fold's start (UTC date)")] = None,
    end: Annotated[str | None, typer.Option(help="last fold's end (UTC date)")] = None,
    window: Annotated[str, typer.Option(help="sliding or expanding training windows")] = (
        "sliding"
    ),
    embargo_hours: Annotated[
        int, typer.Option(help="candles left out between training and each fold")
    ] = 0,
    symbols: Annotated[
        str | None, typer.Option(help="comma-separated symbols (default QT_SYMBOLS)")
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(help="comma-separated members (default AI_ENGINE_ENSEMBLE_MODELS)"),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="folder that feeds the store (default QT_DATA_DIR)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="where study.json and study.md go (default $QT_HOME/studies/<id>)"),
    ] = None,
) -> None:
    """Walk every candidate of CANDIDATES.toml forward on the same folds; judge them together
    (DSR with the ledger's trials, probability of backtest overfitting)."""
    run_study(
        Console(),
        candidates,
        folds=folds,
        train_days=train_days,
        start=start,
        end=end,
        window=window,
        embargo_hours=embargo_hours,
        symbols=symbols,
        models=models,
        data_dir=data_dir,
        out=out,
    )


def run_study(
    console: Console,
    path: Path,
    *,
    folds: int,
    train_days: int,
    start: str | None,
    end: str | None,
    window: str,
    embargo_hours: int,
    symbols: str | None,
    models: str | None,
    data_dir: Path | None,
    out: Path | None,
) -> StudyResult:
    """Run the study of ``path`` (see the module docstring) and return its verdict. Every
    candidate's settings are checked before the first one runs."""
    watch = Stopwatch()
    candidates = load_candidates(path, settings=set(Settings.model_fields), refused=STUDY_DECIDES)
    common = _common_overrides(symbols, models, data_dir)
    members: dict[str, list[str]] = {}  # each candidate's ensemble, as its settings resolve
    for candidate in candidates:
        try:
            resolved = load_settings(**{**common, **candidate.overrides, "offline": True})
        except ConfigError as exc:
            raise ConfigError(f"{path}: candidate {candidate.name!r}: {exc}") from None
        members[candidate.name] = list(resolved.ensemble_models)
    settings = load_settings(**{**common, "offline": True})
    stamp = f"{path.resolve()}\n{path.read_text(encoding='utf-8')}\n{datetime.now(UTC).isoformat()}"
    study_id = f"study-{hashlib.sha256(stamp.encode()).hexdigest()[:10]}"
    evaluations = settings.home / "evaluations" / study_id
    runs: list[CandidateRun] = []
    span: tuple[int, int] | None = None
    for i, candidate in enumerate(candidates, 1):
        console.rule(f"candidate {i}/{len(candidates)}: {candidate.name}")
        folder = evaluations / f"{i:02d}-{_slug(candidate.name)}"
        evaluation = evaluate_system(
            console,
            symbols=symbols,
            start=start,
            end=end,
            folds=folds,
            train_days=train_days,
            window=window,
            embargo_hours=embargo_hours,
            models=models,
            data_dir=data_dir,
            baselines=(),
            settings_overrides=candidate.overrides,
            trial_name=candidate.trial_name,
            folder=folder,
            parent=f"{study_id}/{folder.name}",
        )
        system = evaluation.system
        runs.append(
            CandidateRun(candidate, system.times, system.returns, system.total, str(folder))
        )
        aligned_returns(runs)  # refuse a candidate on other candles now, not after the others
        span = span or (evaluation.folds[0].start, evaluation.folds[-1].end)
    assert span is not None  # load_candidates refuses a file without candidates
    ledger = SqlTrialLedger(open_settings_database(load_settings()))
    trials, variance = study_trials(ledger.trials(), settings.timeframe)
    result = judge(
        runs, timeframe=settings.timeframe, trials=trials, trial_sharpe_variance=variance
    )
    context = _context(path, study_id, settings, candidates, span, folds, train_days, window)
    context.update(embargo_hours=embargo_hours, seconds=round(watch.seconds, 1))
    target = out or settings.home / "studies" / study_id
    _write(target, result, context, members)
    _print(console, result)
    console.print(f"JSON: {target / 'study.json'}\nmarkdown: {target / 'study.md'}")
    return result


def _common_overrides(
    symbols: str | None, models: str | None, data_dir: Path | None
) -> dict[str, Any]:
    """The options every candidate shares, as settings (a candidate's own settings win)."""
    common: dict[str, Any] = {}
    if symbols:
        common["symbols"] = [s.strip() for s in symbols.split(",") if s.strip()]
    if models:
        common["ensemble_models"] = [m.strip() for m in models.split(",") if m.strip()]
    if data_dir is not None:
        common["data_dir"] = data_dir
    return common


def _slug(name: str) -> str:
    """A candidate's name as a folder name.

    >>> _slug("extended barrier/h12 3x2")
    'extended-barrier-h12-3x2'
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "candidate"


def _context(
    path: Path,
    study_id: str,
    settings: Settings,
    candidates: list[Candidate],
    span: tuple[int, int],
    folds: int,
    train_days: int,
    window: str,
) -> dict[str, Any]:
    return {
        "study": study_id,
        "file": str(path),
        "symbols": list(settings.symbols),
        "models": list(settings.ensemble_models),  # unless a candidate names its own
        "start": fmt(span[0]),
        "end": fmt(span[1]),
        "folds": folds,
        "train_days": train_days,
        "window": window,
        "trial_names": [c.trial_name for c in candidates],
        "code_version": code_version(),
    }


def _write(
    target: Path, result: StudyResult, context: dict[str, Any], members: Mapping[str, list[str]]
) -> None:
    target.mkdir(parents=True, exist_ok=True)
    payload = to_payload(result, **context)
    for name, figures in payload["candidates"].items():
        figures["models"] = members[name]
    (target / "study.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    title = (
        f"Study `{Path(context['file']).name}` ({context['study']}): "
        f"{' + '.join(context['symbols'])} {result.timeframe}, {context['folds']} folds "
        f"{context['start'][:10]} → {context['end'][:10]}, {context['window']} training windows "
        f"of {context['train_days']} d, embargo {context['embargo_hours']} h, code "
        f"{context['code_version']}"
    )
    (target / "study.md").write_text(to_markdown(result, title=title), encoding="utf-8")


def _print(console: Console, result: StudyResult) -> None:
    table = Table(title="Study: every candidate, all folds (out of sample, after costs)")
    table.add_column("candidate")
    for title, _, _ in COLUMNS:
        table.add_column(title, justify="right")
    for row in result.rows:
        table.add_row(*row_cells(row))
    console.print(table)
    console.print(pbo_line(result), highlight=False)
    console.print(trials_line(result), highlight=False)
