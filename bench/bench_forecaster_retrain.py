"""Retraining the forecasters in the learning daemon: full retraining against a warm start, and
the drift alarm → gate verdict wall time (issue 17, item 1 and its benchmark).

On the real candles (``QT_DATA_DIR``: BTCUSDT and ETHUSDT 1h) with the app's defaults (a
730-day training window, 336 held-out rows per symbol, label horizon 4, dead zone 0.1 %):

1. a PRODUCTION version of every line (xgb and lgbm per symbol, nhits and patchtst global) is
   trained from scratch at ``P`` = the last candle's close minus ``repeats + 1`` weeks;
2. at each trigger ``T = P + k weeks`` (k = 1 … repeats) a drift alarm of every line reaches a
   learning daemon (the production code: ``LearningDaemon``, its ``ProcessWorker`` at the
   default limits, the ``ValidationGate`` as the app wires it) serving (a) xgb + lgbm only,
   (b) all six lines with the forecasters retrained from scratch, (c) all six with the
   forecasters warm-started from production (``QT_FORECASTER_WARM_START``), (d) a cheaper
   warm start: fitted on the newest ``--cheap-days`` days of its closes only
   (``QT_FORECASTER_WARM_DAYS``) and/or for ``--cheap-epochs`` epochs; ``--arms`` picks
   which run. The wall time from
   the check that collects the alarms to the gate's last verdict is measured: reading the
   store, fitting in the worker, registering, the gate. The engine's clock is a replay clock,
   so it waits at the landing time for the worker exactly as a replay does;
3. per forecaster candidate: the gate's validation log-loss (the held-out rows, purged by the
   horizon) beside the champion's, and the training loop's seconds.

Medians over the triggers are printed. A live run adds the wait for a check: an alarm is
collected at the next check (at most ``QT_RETRAIN_CHECK_MINUTES`` later) and the fit's result
lands at the earliest one check after that.

    QT_DATA_DIR=../shared/data PYTHONPATH=src nice -n 10 python bench/bench_forecaster_retrain.py
    ... bench/bench_forecaster_retrain.py --repeats 9 --forecasters-only --arms warm,cheap \
        --cheap-days 180
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.continuous_learning import store_closes_reader, store_reader
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.clock.scheduler import Scheduler
from quantum_trader.clock.workers import ProcessWorker
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE
from quantum_trader.features.labels import LabelSpec
from quantum_trader.learning.daemon import Candidate, LearningConfig, LearningDaemon
from quantum_trader.learning.forecaster_lines import ForecasterConfig, WindowRows
from quantum_trader.learning.gate import GateResult, ValidationGate
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.learning.trainers import (
    FORECAST_SCOPE,
    FamilyKind,
    FitOptions,
    TrainingWindow,
    family,
    fit,
)
from quantum_trader.learning.triggers import Trigger, TriggerInbox, TriggerKind, training_rows
from quantum_trader.models.ensemble.member import Member

SYMBOLS = ("BTCUSDT", "ETHUSDT")
TIMEFRAME = "1h"
TF = MS_PER_HOUR
LABELS = LabelSpec(horizon=4, dead_zone=0.001)  # the app's: 2 x the 0.05 % taker fee
TABULAR = ("xgb", "lgbm")
DEEP = ("nhits", "patchtst")
CHECK_MS = 30 * MS_PER_MINUTE  # QT_RETRAIN_CHECK_MINUTES
WEEK = 7 * MS_PER_DAY
SEED = 7


def keys(models: tuple[str, ...]) -> list[ModelKey]:
    out = []
    for m in models:
        if family(m).kind is FamilyKind.FORECASTER:
            out.append(ModelKey(m, FORECAST_SCOPE, LABELS.horizon))
        else:
            out += [ModelKey(m, s, LABELS.horizon) for s in SYMBOLS]
    return out


@dataclass
class Rig:
    store: CandleStore
    artifacts: LocalArtifactStore
    repository: SqlRegistryRepository
    worker: ProcessWorker
    days: int
    warm_epochs: int

    def registry(self, at: int) -> ModelRegistry:
        return ModelRegistry(self.repository, SimulatedClock(at))

    def bootstrap(self, at: int, models: tuple[str, ...]) -> None:
        """PRODUCTION versions of every line, from scratch on the window ending at ``at``."""
        registry = self.registry(at)
        read = store_reader(self.store, TIMEFRAME, LABELS, SYMBOLS)
        closes = store_closes_reader(self.store, TIMEFRAME)
        first = at - self.days * MS_PER_DAY
        for key in keys(models):
            started = time.perf_counter()
            if key.scope == FORECAST_SCOPE:
                window = TrainingWindow(
                    closes=tuple(closes(s, first, at) for s in SYMBOLS),
                    labels=LABELS,
                    scope=FORECAST_SCOPE,
                )
            else:
                data = training_rows(read(key.scope, first, at), at, TF)
                window = TrainingWindow(dataset=data)
            fitted = fit(key.model, window, FitOptions(seed=SEED), self.artifacts)
            version = registry.register(fitted.metadata, fitted.digest, actor="bench", reason="")
            registry.promote(key, version.version, actor="bench", reason="", to=Stage.PRODUCTION)
            print(f"  production {key}: {time.perf_counter() - started:.0f} s", flush=True)

    def member(self, registry: ModelRegistry, key: ModelKey, version: int | None) -> Member:
        """The gate's member, as ``app/continuous_learning.py`` loads it."""
        found = registry.production(key) if version is None else registry.get(key, version)
        assert found is not None
        loaded = family(key.model).loader(LABELS)(self.artifacts.open(found.artifact_hash), None)
        deep = family(key.model).kind is FamilyKind.FORECASTER
        return WindowRows(loaded) if deep else loaded


@dataclass
class Verdict:
    key: ModelKey
    warm_from: int | None
    train_seconds: float | None
    result: GateResult


@dataclass
class Run:
    prepare_s: float
    total_s: float
    verdicts: list[Verdict] = field(default_factory=list)


def retrain(
    rig: Rig, models: tuple[str, ...], at: int, *, warm: bool, days: int = 0, epochs: int = 0
) -> Run:
    """A drift alarm of every line of ``models`` at ``at``: one check, one landing, the gate."""
    clock = SimulatedClock(at - CHECK_MS)
    registry = ModelRegistry(rig.repository, clock)
    gate = ValidationGate(registry, lambda k, v: rig.member(registry, k, v), LABELS.horizon)
    run = Run(0.0, 0.0)

    def on_candidate(candidate: Candidate) -> None:
        result = gate(candidate.version, candidate.validation)
        lineage = candidate.version.lineage
        start = lineage.parameters.get("warm_start")
        run.verdicts.append(
            Verdict(
                candidate.version.key,
                start["from_version"] if isinstance(start, dict) else None,
                lineage.metrics.get("train_seconds"),
                result,
            )
        )

    inbox = TriggerInbox()
    config = LearningConfig(
        horizon=LABELS.horizon,
        timeframe_ms=TF,
        check_ms=CHECK_MS,
        schedule_ms=None,
        train_ms=rig.days * MS_PER_DAY,
        seed=SEED,
    )
    forecasters = ForecasterConfig(
        LABELS,
        SYMBOLS,
        TIMEFRAME,
        warm_start=warm,
        warm_epochs=epochs or rig.warm_epochs,
        warm_days=days,
    )
    daemon = LearningDaemon(
        config,
        keys(models),
        store_reader(rig.store, TIMEFRAME, LABELS, SYMBOLS),
        rig.artifacts,
        registry,
        on_candidate,
        inbox=inbox,
        started_at=at - WEEK,
        forecasters=(forecasters, store_closes_reader(rig.store, TIMEFRAME)),
    )
    scheduler = Scheduler(clock)
    daemon.start(scheduler, rig.worker, at)
    for key in keys(models):
        symbol = SYMBOLS[0] if key.scope == FORECAST_SCOPE else key.scope
        inbox.add(Trigger(TriggerKind.DRIFT, key.model, symbol, at - MS_PER_MINUTE, "bench"))
    started = time.perf_counter()
    clock.advance_to(at)
    scheduler.run_due(at)  # the check: reads, builds the jobs, hands them to the worker
    run.prepare_s = time.perf_counter() - started
    clock.advance_to(at + CHECK_MS)
    scheduler.run_due(at + CHECK_MS)  # the landing: waits for the worker, registers, gate
    run.total_s = time.perf_counter() - started
    job = scheduler.jobs["continuous_learning.check"].worker
    if job is not None:
        job.cancel()  # the next check's (empty) computation
    return run


def worker_rss_mib(pid: int | None) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def describe(label: str, run: Run) -> None:
    print(f"  {label}: {run.total_s:.0f} s to the last verdict (check {run.prepare_s:.1f} s)")
    for v in run.verdicts:
        r = v.result
        start = f"warm from v{v.warm_from}" if v.warm_from is not None else "from scratch"
        loop = f", loop {v.train_seconds:.0f} s" if v.train_seconds is not None else ""
        print(
            f"    {v.key} ({start}{loop}): log-loss {r.candidate.get('log_loss', float('nan')):.4f} "
            f"vs champion {r.champion.get('log_loss', float('nan')):.4f} on {r.rows} rows, "
            f"DM {r.statistic:+.2f}: {'SHADOW' if r.passed else 'RETIRED'}"
        )


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.4g}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="triggers, a week apart")
    parser.add_argument("--days", type=int, default=730, help="training window (QT_TRAIN_DAYS)")
    parser.add_argument("--warm-epochs", type=int, default=3)
    parser.add_argument(
        "--forecasters-only", action="store_true", help="only nhits and patchtst: cold vs warm"
    )
    parser.add_argument(
        "--cheap-days", type=int, default=0, help="the cheap arm's QT_FORECASTER_WARM_DAYS"
    )
    parser.add_argument("--cheap-epochs", type=int, default=0, help="the cheap arm's epochs")
    parser.add_argument(
        "--arms", default="tabular,cold,warm,cheap", help="which of tabular,cold,warm,cheap"
    )
    args = parser.parse_args()
    arms = set(args.arms.split(","))
    if not (args.cheap_days or args.cheap_epochs):
        arms.discard("cheap")
    tabular = () if args.forecasters_only else TABULAR
    store = CandleStore(Path(os.environ["QT_DATA_DIR"]))
    last = int(min(store.load(s, TIMEFRAME)["open_time"].iloc[-1] for s in SYMBOLS)) + TF
    last -= last % MS_PER_HOUR
    production_at = last - (args.repeats + 1) * WEEK
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="qt-bench-retrain-") as tmp:
        engine = open_database(f"sqlite:///{Path(tmp) / 'qt.sqlite'}")
        with ProcessWorker("continuous-learning") as worker:
            rig = Rig(
                store,
                LocalArtifactStore(Path(tmp) / "artifacts"),
                SqlRegistryRepository(engine),
                worker,
                args.days,
                args.warm_epochs,
            )
            print(f"bootstrap at {production_at}:", flush=True)
            rig.bootstrap(production_at, tabular + DEEP)
            runs: dict[str, list[Run]] = {a: [] for a in ("tabular", "cold", "warm", "cheap")}
            configurations = [
                ("tabular", tabular, False, 0, 0),
                ("cold", tabular + DEEP, False, 0, 0),
                ("warm", tabular + DEEP, True, 0, 0),
                ("cheap", tabular + DEEP, True, args.cheap_days, args.cheap_epochs),
            ]
            for k in range(1, args.repeats + 1):
                at = production_at + k * WEEK
                print(f"trigger {k} ({k} weeks after production):", flush=True)
                for label, models, warm, days, epochs in configurations:
                    if not models or label not in arms:
                        continue
                    run = retrain(rig, models, at, warm=warm, days=days, epochs=epochs)
                    runs[label].append(run)
                    describe(f"{label} ({', '.join(models)})", run)
                    print(f"    worker RSS {worker_rss_mib(worker.pid):.0f} MiB", flush=True)
        engine.dispose()
    print(f"load average at end: {os.getloadavg()}")
    summarise(runs, args.repeats)


def summarise(runs: dict[str, list[Run]], repeats: int) -> None:
    """Medians over the triggers; the log-loss of each forecaster arm against another paired by
    trigger (both judged on the same held-out rows), since triggers differ far more than two
    fits do."""
    print(f"\nmedians over {repeats} triggers:")
    for label, done in runs.items():
        if done:
            print(
                f"  {label}: drift alarm -> last gate verdict {median([r.total_s for r in done])} s"
            )
    for model in DEEP:
        arms = {
            label: [next(v for v in r.verdicts if v.key.model == model) for r in done]
            for label, done in runs.items()
            if label != "tabular" and done
        }
        for label, verdicts in arms.items():
            loops = [v.train_seconds for v in verdicts if v.train_seconds is not None]
            passed = sum(v.result.passed for v in verdicts)
            print(
                f"  {model} {label}: loop {median(loops)} s, passed the gate {passed} of {len(verdicts)}"
            )
        for new, old in (("warm", "cold"), ("cheap", "warm"), ("cheap", "cold")):
            if new in arms and old in arms:
                paired = [
                    a.result.candidate["log_loss"] - b.result.candidate["log_loss"]
                    for a, b in zip(arms[new], arms[old], strict=True)
                ]
                shown = ", ".join(f"{d:+.4f}" for d in paired)
                lower = sum(d < 0 for d in paired)
                print(
                    f"  {model} {new} - {old} validation log-loss per trigger: {shown}; median "
                    f"{median(paired)}, {new} lower in {lower} of {len(paired)}"
                )


if __name__ == "__main__":
    main()
