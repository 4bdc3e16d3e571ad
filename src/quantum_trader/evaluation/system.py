"""Walk-forward evaluation of the whole system against its baselines, out of sample, after costs.

For every fold (``evaluation/folds.py``) every variant — the system as configured and each
baseline — is replayed through the same engine by a :class:`FoldRunner` (the app's runs the
main job on the fold's window, with models trained on the fold's own training window). This
module turns those replays into figures:

* per fold and in total, each variant's :class:`~quantum_trader.performance.metrics.Performance`
  (the total chains the folds' per-candle returns: a fold starts from the initial equity);
* the system's Sharpe minus each baseline's, with a paired block-bootstrap interval over the
  same candles (``performance/significance.py``);
* the system's probabilistic Sharpe ratio, and its deflated Sharpe ratio with the number of
  trials and their Sharpe variance read from the trial ledger.

A variant whose settings equal an earlier one's (fixed-fractional sizing is the system's own
sizer today) is not replayed again: it reports the same figures and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from quantum_trader.clock.worker_jobs import Worker
from quantum_trader.domain.errors import DataError
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.time import timeframe_ms
from quantum_trader.evaluation.folds import Fold, Variant, check_training_window
from quantum_trader.performance.metrics import (
    Performance,
    bar_returns,
    performance,
    periods_per_year,
)
from quantum_trader.performance.significance import (
    BootstrapInterval,
    block_bootstrap_difference,
    deflated_sharpe_ratio,
    probabilistic_sharpe_ratio,
)


@dataclass(frozen=True, slots=True)
class VariantRun:
    """What one replay of one variant on one fold produced."""

    times: tuple[int, ...]  # equity points (candle closes), the same for every variant
    equity: tuple[float, ...]
    trade_net: tuple[float, ...]  # each closed trade's net PnL (fees and funding included)
    trade_gross: tuple[float, ...]  # … and its gross PnL
    trade_strategies: tuple[str, ...]
    fees: float
    funding: float
    traded_notional: float
    exposure: float  # fraction of equity points with a position open
    #: each model's training window, as the registry recorded it (checked against the fold)
    training_windows: Mapping[str, tuple[int, int] | None] = field(default_factory=dict)
    #: versions continuous learning trained during the replay → when they were registered
    retrained_at: Mapping[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    trades: tuple[Trade, ...] = ()  # the closed trades themselves, for the report's charts
    #: (time, risk mode, trading state) at each change during the replay
    risk_timeline: tuple[tuple[int, str, str], ...] = ()


class FoldRunner(Protocol):
    """Replays one variant on one fold through the engine."""

    def config_of(self, variant: Variant) -> Mapping[str, Any]:
        """The settings that make this variant's replay (equal mappings: equal replays)."""
        ...

    def run(self, fold: Fold, variant: Variant) -> VariantRun: ...


@dataclass(frozen=True, slots=True)
class VariantResult:
    variant: Variant
    folds: tuple[Performance, ...]
    total: Performance
    returns: np.ndarray  # the folds' per-candle returns, chained
    times: tuple[int, ...]  # the close time of each return
    runs: tuple[VariantRun, ...]
    same_as: str | None = None  # the variant whose replays these are (equal settings)

    @property
    def equity(self) -> np.ndarray:
        """The chained equity curve (starting at 1)."""
        return np.concatenate(([1.0], np.cumprod(1.0 + self.returns)))


@dataclass(frozen=True, slots=True)
class SystemEvaluation:
    folds: tuple[Fold, ...]
    timeframe: str
    results: Mapping[str, VariantResult]  # system first, then the baselines in their order
    comparisons: Mapping[str, BootstrapInterval]  # baseline → system Sharpe minus its Sharpe
    psr: float  # P(true Sharpe > 0) of the system
    dsr: float  # … > the best of the ledger's trials by luck
    trials: int
    trial_sharpe_variance: float
    seconds: float

    @property
    def system(self) -> VariantResult:
        return self.results["system"]


def evaluate_variants(
    folds: Sequence[Fold],
    variants: Sequence[Variant],
    runner: FoldRunner,
    *,
    timeframe: str,
    horizon: int,
    on_run: Callable[[Fold, Variant, VariantRun | None], None] | None = None,
    worker: Worker | None = None,
) -> dict[str, VariantResult]:
    """Replay every variant on every fold (fold by fold: a fold's models are trained once, by
    its first replay) and compute their figures. Refuses (LookAheadError) a replay whose
    models were fitted on a row whose label reaches past the fold's training window.

    ``worker`` (started; the training backend's, ``app/training_backend.py``): the folds run
    there, side by side, instead of one after the other here; the figures are the same
    (``tests/evaluation/test_fold_backends.py``). ``on_run`` is then told each fold's
    replays when the fold is done, still in order."""
    tf_ms = timeframe_ms(timeframe)
    if not variants or variants[0].kind != "system":
        raise ValueError("the first variant must be the system")
    configs = [dict(runner.config_of(v)) for v in variants]
    same: dict[str, str] = {}
    for i, variant in enumerate(variants):
        for earlier in variants[:i]:
            if configs[i] == configs[variants.index(earlier)] and earlier.name not in same:
                same[variant.name] = earlier.name
                break
    runs: dict[str, list[VariantRun]] = {v.name: [] for v in variants}
    replayed = tuple(v for v in variants if v.name not in same)
    for fold, variant, run in _replays(folds, replayed, runner, worker):
        for model, window in run.training_windows.items():
            check_training_window(
                fold,
                model,
                window,
                horizon=horizon,
                tf_ms=tf_ms,
                trained_at=run.retrained_at.get(model),
            )
        runs[variant.name].append(run)
        if on_run is None:
            continue
        on_run(fold, variant, run)
        # the variants after it with an earlier one's settings, in the variants' order
        for later in variants[variants.index(variant) + 1 :]:
            if later.name not in same:
                break
            on_run(fold, later, None)
    for name, source in same.items():
        runs[name] = runs[source]
    return {v.name: _result(v, runs[v.name], timeframe, same.get(v.name)) for v in variants}


@dataclass(frozen=True, slots=True)
class FoldReplay:
    """The replays of one fold, as one computation for a worker: the variants in order (the
    first trains the fold's models, the others find them), by a runner that travels with it
    (a process or Ray worker pickles it)."""

    runner: FoldRunner
    fold: Fold
    variants: tuple[Variant, ...]


def replay_fold(job: FoldReplay) -> tuple[VariantRun, ...]:
    """Every variant of one fold, in order: a worker's computation (module level)."""
    return tuple(job.runner.run(job.fold, variant) for variant in job.variants)


def _replays(
    folds: Sequence[Fold],
    variants: tuple[Variant, ...],
    runner: FoldRunner,
    worker: Worker | None,
) -> Iterator[tuple[Fold, Variant, VariantRun]]:
    """Each fold's replays in fold and variant order: here one by one, or every fold handed
    to ``worker`` at once (folds are independent: each has its own home) and collected in
    order. A fold that failed raises its worker's error; the folds not started are cancelled."""
    if worker is None:
        for fold in folds:
            for variant in variants:
                yield fold, variant, runner.run(fold, variant)
        return
    futures = [worker.submit(replay_fold, FoldReplay(runner, fold, variants)) for fold in folds]
    try:
        for fold, future in zip(folds, futures, strict=True):
            yield from ((fold, v, run) for v, run in zip(variants, future.result(), strict=True))
    finally:
        for future in futures:
            future.cancel()


def _result(
    variant: Variant, runs: Sequence[VariantRun], timeframe: str, same_as: str | None
) -> VariantResult:
    per_fold = tuple(run_performance(run, timeframe) for run in runs)
    returns = np.concatenate([bar_returns(np.asarray(run.equity)) for run in runs])
    times = tuple(t for run in runs for t in run.times[1:])
    bars = np.array([len(run.equity) for run in runs], dtype=np.float64)
    # every fold starts from the same initial equity: the total chains the folds' returns from
    # it, and money figures (fees, funding, PnL, notional) add up per that account size
    initial = runs[0].equity[0]
    chained = initial * np.concatenate(([1.0], np.cumprod(1.0 + returns)))
    total = performance(
        chained,
        timeframe=timeframe,
        trade_net_pnls=[p for run in runs for p in run.trade_net],
        trade_gross_pnls=[p for run in runs for p in run.trade_gross],
        fees=sum(run.fees for run in runs),
        funding=sum(run.funding for run in runs),
        traded_notional=sum(run.traded_notional for run in runs),
        exposure=float(np.average([run.exposure for run in runs], weights=bars)),
    )
    return VariantResult(variant, per_fold, total, returns, times, tuple(runs), same_as)


def run_performance(run: VariantRun, timeframe: str) -> Performance:
    """The figures of one replay (net of fees, slippage and funding)."""
    equity = np.asarray(run.equity, dtype=np.float64)
    return performance(
        equity,
        timeframe=timeframe,
        trade_net_pnls=list(run.trade_net),
        trade_gross_pnls=list(run.trade_gross),
        fees=run.fees,
        funding=run.funding,
        traded_notional=run.traded_notional,
        exposure=run.exposure,
    )


def compare(
    results: Mapping[str, VariantResult],
    *,
    timeframe: str,
    trials: int,
    trial_sharpe_variance: float,
    samples: int = 2000,
    seed: int = 0,
    folds: Sequence[Fold] = (),
    seconds: float = 0.0,
) -> SystemEvaluation:
    """The system against each baseline: Sharpe differences with their bootstrap intervals,
    the system's PSR, and its DSR for ``trials`` trials of Sharpe variance
    ``trial_sharpe_variance`` (per candle, from the trial ledger)."""
    system = results["system"]
    ppy = periods_per_year(timeframe)
    comparisons = {}
    for name, result in results.items():
        if name == "system":
            continue
        if result.times != system.times:
            raise DataError(
                f"baseline {name} replayed other candles than the system "
                f"({len(result.times)} against {len(system.times)} returns)"
            )
        comparisons[name] = block_bootstrap_difference(
            system.returns,
            result.returns,
            statistic="sharpe",
            periods_per_year=ppy,
            samples=samples,
            seed=seed,
        )
    return SystemEvaluation(
        tuple(folds),
        timeframe,
        results,
        comparisons,
        psr=probabilistic_sharpe_ratio(system.returns),
        dsr=deflated_sharpe_ratio(system.returns, max(trials, 1), trial_sharpe_variance),
        trials=trials,
        trial_sharpe_variance=trial_sharpe_variance,
        seconds=seconds,
    )


class Stopwatch:
    """Seconds since it was made (the evaluation's wall time, for the record)."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self._start
