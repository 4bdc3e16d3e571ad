"""A study: many candidate configurations of the system, each walked forward on the same folds,
judged together (issue 24, "where is the edge?").

One walk-forward answers "does this configuration make money out of sample?". Many answer a
harder question, because the best of many is flattered by the choosing. So a study judges its
candidates twice over, on their per-candle out-of-sample returns:

* each candidate's **deflated Sharpe ratio**, with N and V from the trial ledger (every
  candidate of the study is one of the ledger's trials, beside all the others of the timeframe:
  :func:`study_trials`);
* the **probability of backtest overfitting** of picking the best of them
  (``performance/overfitting.py``), over the T×N matrix of their aligned returns
  (:func:`aligned_returns`), in :func:`pbo_blocks` blocks.

This module is pure: candidates come from a TOML file (:func:`load_candidates`), their runs from
whoever walked them forward (``app/cli/study.py``), and the verdict is data
(:class:`StudyResult`, :func:`to_payload`, :func:`to_markdown`).
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from quantum_trader.domain.errors import ConfigError, DataError
from quantum_trader.domain.time import fmt
from quantum_trader.evaluation.ledger import Trial, dsr_inputs
from quantum_trader.performance.display import cell
from quantum_trader.performance.metrics import FloatArray, Performance
from quantum_trader.performance.overfitting import (
    BacktestOverfitting,
    probability_of_backtest_overfitting,
)
from quantum_trader.performance.significance import (
    deflated_sharpe_ratio,
    probabilistic_sharpe_ratio,
)

#: the prefix of a study candidate's trial name in the ledger (``study:<candidate>``)
TRIAL_PREFIX = "study:"
#: PBO's blocks when the returns are long enough (the paper's S = 16: C(16, 8) = 12,870 splits)
DEFAULT_BLOCKS = 16
#: the fewest periods a PBO block may hold: a day of hourly candles. Shorter blocks cut the
#: returns' serial dependence (a position held over hours) at more places, and each half's
#: Sharpe ratio then mixes pieces too short to mean anything
MIN_BLOCK_PERIODS = 24
_CANDIDATE_KEYS = ("name", "settings")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One configuration tried by a study: a name (unique in its study) and the settings it
    changes over the study's own (``Settings`` field → value)."""

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"candidate name {self.name!r}: must be non-empty text")
        if self.name != self.name.strip():
            raise ConfigError(f"candidate name {self.name!r}: no spaces around it")
        if not isinstance(self.overrides, Mapping):
            raise ConfigError(
                f"candidate {self.name!r}: overrides must be a table of setting → value, "
                f"not {type(self.overrides).__name__}"
            )
        for key in self.overrides:
            if not isinstance(key, str) or not key:
                raise ConfigError(f"candidate {self.name!r}: setting name {key!r} is not text")
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))

    @property
    def trial_name(self) -> str:
        """Its name in the trial ledger."""
        return f"{TRIAL_PREFIX}{self.name}"


def check_unique(candidates: Sequence[Candidate]) -> None:
    """Refuse a study without candidates or with two of one name."""
    if not candidates:
        raise ConfigError("a study needs at least one candidate")
    seen: dict[str, int] = {}
    for i, candidate in enumerate(candidates, 1):
        if candidate.name in seen:
            raise ConfigError(
                f"candidate {i}: name {candidate.name!r} is taken by candidate {seen[candidate.name]}"
            )
        seen[candidate.name] = i


def load_candidates(
    path: Path,
    *,
    settings: Collection[str] | None = None,
    refused: Mapping[str, str] | None = None,
) -> list[Candidate]:
    """The candidates of a TOML file, in its order::

        [[candidate]]
        name = "extended-sign-h4"
        [candidate.settings]
        features = "extended"

    ``settings`` are the setting names a candidate may change (None: any); ``refused`` maps
    setting names a study decides itself to why. Errors name the file, the candidate and the key.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:  # a folder, no permission …
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"candidate"})
    if extra:
        raise ConfigError(
            f"{path}: unknown top-level key(s) {', '.join(extra)}; a candidate is a "
            "[[candidate]] table"
        )
    tables = data.get("candidate")
    if tables is None:
        raise ConfigError(f"{path}: no [[candidate]] table; give at least one")
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{path}: 'candidate' must be an array of tables ([[candidate]])")
    candidates = [
        _candidate(path, i, table, settings, refused or {}) for i, table in enumerate(tables, 1)
    ]
    try:
        check_unique(candidates)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return candidates


def _candidate(
    path: Path,
    index: int,
    table: Mapping[str, Any],
    settings: Collection[str] | None,
    refused: Mapping[str, str],
) -> Candidate:
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{path}: candidate {index}: name = {name!r}: give non-empty text")
    where = f"{path}: candidate {index} ({name!r})"
    unknown = sorted(set(table) - set(_CANDIDATE_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; a candidate has a name and a "
            "[candidate.settings] table"
        )
    overrides = table.get("settings", {})
    if not isinstance(overrides, dict):
        raise ConfigError(
            f"{where}: settings = {overrides!r}: must be a table ([candidate.settings])"
        )
    for key in overrides:
        if key in refused:
            raise ConfigError(f"{where}: settings.{key}: {refused[key]}")
        if settings is not None and key not in settings:
            near = difflib.get_close_matches(key, list(settings), n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ConfigError(f"{where}: settings.{key}: not a setting{hint}")
    try:
        return Candidate(name, overrides)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


@dataclass(frozen=True, slots=True)
class CandidateRun:
    """What the walk-forward of one candidate produced: the close time of each per-candle
    return (the folds chained), the returns, and the total figures (the system variant's)."""

    candidate: Candidate
    times: tuple[int, ...]
    returns: FloatArray
    total: Performance
    folder: str | None = None  # where its evaluation was written

    @property
    def name(self) -> str:
        return self.candidate.name


def aligned_returns(runs: Sequence[CandidateRun]) -> tuple[tuple[int, ...], FloatArray]:
    """The candidates' returns as a T×N matrix (one column per candidate, in order) over the
    candle times they share. Candidates that replayed other candles are refused (DataError,
    naming the first that differs from the first candidate, and where): PBO compares trials
    over the same periods, and a study's candidates must have walked the same folds.

    >>> from quantum_trader.performance.metrics import performance
    >>> perf = performance([1.0, 1.0], timeframe="1h", trade_net_pnls=[], trade_gross_pnls=[],
    ...                    fees=0.0, funding=0.0, traded_notional=0.0, exposure=0.0)
    >>> hour = 3_600_000
    >>> a = CandidateRun(Candidate("a"), (hour, 2 * hour), np.array([0.01, 0.0]), perf)
    >>> b = CandidateRun(Candidate("b"), (hour, 3 * hour), np.array([0.0, 0.02]), perf)
    >>> aligned_returns([a, b])
    Traceback (most recent call last):
    ...
    quantum_trader.domain.errors.DataError: candidate 'b' replayed other candles than 'a': return 2 closes at 1970-01-01T03:00:00Z against 1970-01-01T02:00:00Z (2 returns against 2); walk every candidate over the same folds (give --start and --end, the same symbols)
    """
    if not runs:
        raise DataError("no candidate runs to align")
    first = runs[0]
    for run in runs:
        if len(run.returns) != len(run.times):
            raise DataError(
                f"candidate {run.name!r}: {len(run.returns)} returns but {len(run.times)} times"
            )
        if run.times == first.times:
            continue
        at = next(
            (i for i, (a, b) in enumerate(zip(run.times, first.times, strict=False)) if a != b),
            min(len(run.times), len(first.times)),
        )
        theirs = fmt(run.times[at]) if at < len(run.times) else "nothing (it ended)"
        ours = fmt(first.times[at]) if at < len(first.times) else "nothing (it ended)"
        raise DataError(
            f"candidate {run.name!r} replayed other candles than {first.name!r}: return "
            f"{at + 1} closes at {theirs} against {ours} ({len(run.times)} returns against "
            f"{len(first.times)}); walk every candidate over the same folds (give --start and "
            "--end, the same symbols)"
        )
    matrix = np.column_stack([np.asarray(run.returns, dtype=np.float64) for run in runs])
    return first.times, matrix


def pbo_blocks(
    periods: int, *, most: int = DEFAULT_BLOCKS, least_periods: int = MIN_BLOCK_PERIODS
) -> int | None:
    """The number of PBO blocks for ``periods`` returns: ``most`` when each block then holds at
    least ``least_periods``, else the largest even number that does; None when not even two
    blocks do (PBO is not defined on so short a record).

    >>> pbo_blocks(17_280), pbo_blocks(200), pbo_blocks(96), pbo_blocks(40)
    (16, 8, 4, None)
    """
    if most < 2:
        raise ValueError(f"most={most}: PBO needs at least 2 blocks")
    blocks = min(most, periods // max(least_periods, 1))
    blocks -= blocks % 2
    return blocks if blocks >= 2 else None


def study_trials(trials: Sequence[Trial], timeframe: str) -> tuple[int, float]:
    """The deflated Sharpe ratio's N and V for a study on ``timeframe``: over the ledger's trials
    of that timeframe, the study's candidates among them once recorded (``dsr_inputs``: one per
    configuration, baselines and validations left out). Per-candle Sharpe ratios of other
    timeframes are in other units."""
    return dsr_inputs([t for t in trials if t.timeframe == timeframe])


@dataclass(frozen=True, slots=True)
class StudyRow:
    """One candidate's verdict: its total figures out of sample, after costs, and its PSR and
    DSR (P(true Sharpe > 0), and > the best of the ledger's trials by luck)."""

    name: str
    overrides: Mapping[str, Any]
    net_return: float
    sharpe: float  # annualised with the candles of a 365-day year, as the evaluation's
    max_drawdown: float
    trades: int
    turnover: float
    fees: float
    funding: float
    periods: int
    psr: float
    dsr: float
    folder: str | None


@dataclass(frozen=True, slots=True)
class StudyResult:
    timeframe: str
    rows: tuple[StudyRow, ...]
    trials: int  # N of the DSR: the ledger's distinct configurations of this timeframe
    trial_sharpe_variance: float  # V: their per-candle Sharpe ratios' variance
    periods: int  # T: the per-candle returns every candidate shares
    pbo: BacktestOverfitting | None
    pbo_note: str  # why PBO is not defined, or how it was computed

    @property
    def best(self) -> StudyRow | None:
        """The candidate with the highest Sharpe ratio (None when no candidate has one)."""
        ranked = [r for r in self.rows if math.isfinite(r.sharpe)]
        return max(ranked, key=lambda r: r.sharpe) if ranked else None


def judge(
    runs: Sequence[CandidateRun],
    *,
    timeframe: str,
    trials: int,
    trial_sharpe_variance: float,
    blocks: int = DEFAULT_BLOCKS,
) -> StudyResult:
    """The study's verdict on its candidates' runs (see the module docstring). ``trials`` and
    ``trial_sharpe_variance``: :func:`study_trials` of the ledger, the candidates recorded in it
    (a candidate without a Sharpe ratio — it never traded — is no contender there, and is not
    counted here either)."""
    times, matrix = aligned_returns(runs)
    n_trials = max(trials, 1)
    rows = tuple(_row(run, n_trials, trial_sharpe_variance) for run in runs)
    overfitting, note = _overfitting(matrix, blocks)
    return StudyResult(
        timeframe, rows, n_trials, trial_sharpe_variance, len(times), overfitting, note
    )


def _row(run: CandidateRun, trials: int, variance: float) -> StudyRow:
    total = run.total
    return StudyRow(
        name=run.name,
        overrides=run.candidate.overrides,
        net_return=total.net_return,
        sharpe=total.sharpe,
        max_drawdown=total.max_drawdown,
        trades=total.trades,
        turnover=total.turnover,
        fees=total.fees,
        funding=total.funding,
        periods=total.periods,
        psr=probabilistic_sharpe_ratio(run.returns),
        dsr=deflated_sharpe_ratio(run.returns, trials, variance),
        folder=run.folder,
    )


def _overfitting(matrix: FloatArray, most: int) -> tuple[BacktestOverfitting | None, str]:
    periods, candidates = matrix.shape
    if candidates < 2:
        return None, f"not defined: {candidates} candidate (PBO compares at least 2)"
    blocks = pbo_blocks(periods, most=most)
    if blocks is None:
        return None, (
            f"not defined: {periods} periods are too few for 2 blocks of {MIN_BLOCK_PERIODS}"
        )
    result = probability_of_backtest_overfitting(matrix, blocks=blocks)
    return result, (
        f"{result.combinations:,} splits of {blocks} blocks of about {periods // blocks} "
        f"periods, {candidates} candidates"
    )


def _safe(value: float) -> float | None:
    return value if math.isfinite(value) else None


def to_payload(result: StudyResult, **context: Any) -> dict[str, Any]:
    """The study as JSON-safe data (``context``: what produced it — file, folds, window …)."""
    pbo = result.pbo
    return {
        **context,
        "timeframe": result.timeframe,
        "periods": result.periods,
        "trials": result.trials,
        "trial_sharpe_variance": result.trial_sharpe_variance,
        "candidates": {
            row.name: {
                "overrides": {k: _plain(v) for k, v in row.overrides.items()},
                "net_return": _safe(row.net_return),
                "sharpe": _safe(row.sharpe),
                "max_drawdown": _safe(row.max_drawdown),
                "trades": row.trades,
                "turnover": _safe(row.turnover),
                "fees": _safe(row.fees),
                "funding": _safe(row.funding),
                "periods": row.periods,
                "psr": _safe(row.psr),
                "dsr": _safe(row.dsr),
                "folder": row.folder,
            }
            for row in result.rows
        },
        "pbo": None
        if pbo is None
        else {
            "pbo": pbo.pbo,
            "blocks": pbo.blocks,
            "combinations": pbo.combinations,
            "degradation_slope": _safe(pbo.degradation_slope),
            "degradation_intercept": _safe(pbo.degradation_intercept),
            "prob_oos_loss": pbo.prob_oos_loss,
        },
        "pbo_note": result.pbo_note,
    }


def _plain(value: Any) -> Any:
    """A TOML value as JSON (dates as their text)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


#: the study table's columns: title, figure, kind of cell (``performance/display.py``)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("net", "net_return", "pct"),
    ("Sharpe", "sharpe", "num"),
    ("max DD", "max_drawdown", "pct"),
    ("trades", "trades", "int"),
    ("turnover", "turnover", "num"),
    ("fees", "fees", "money"),
    ("PSR", "psr", "num"),
    ("DSR", "dsr", "num"),
)


def row_cells(row: StudyRow) -> list[str]:
    """A candidate's cells as the study table shows them."""
    return [row.name, *(cell(getattr(row, key), kind) for _, key, kind in COLUMNS)]


def pbo_line(result: StudyResult) -> str:
    """PBO, its degradation and P(OOS Sharpe < 0) in a sentence (or why it is not defined)."""
    pbo = result.pbo
    if pbo is None:
        return f"PBO {result.pbo_note}"
    slope = cell(pbo.degradation_slope, "num")
    return (
        f"PBO {pbo.pbo:.2f} ({result.pbo_note}); degradation slope {slope} (out-of-sample "
        f"Sharpe on in-sample Sharpe of the pick); P(OOS Sharpe < 0) {pbo.prob_oos_loss:.2f}"
    )


def trials_line(result: StudyResult) -> str:
    return (
        f"DSR over {result.trials} trial(s) of {result.timeframe} in the ledger (Sharpe "
        f"variance {result.trial_sharpe_variance:.2e} per candle); {result.periods:,} "
        "per-candle returns per candidate"
    )


def to_markdown(result: StudyResult, *, title: str) -> str:
    """The study as a markdown table and two lines, ready to paste into the docs."""
    head = ["candidate", *(title for title, _, _ in COLUMNS)]
    lines = [
        f"{title}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(row_cells(row)) + " |" for row in result.rows),
        "",
        pbo_line(result) + ".",
        "",
        trials_line(result) + ".",
        "",
    ]
    return "\n".join(lines)
