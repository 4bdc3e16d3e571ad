"""Decision latency while a forecaster retrains beside the decision path (issue 15, item 8).

The live path's decision latency (``bench_pipeline.py``'s candle-by-candle child:
``QT_REPLAY_BATCH_VOTES=false``, each decision timed from candle in to risk-checked order out,
all four models and every module on) measured side by side in fresh serving processes:

- ``quiet``: nothing of ours runs beside it;
- ``idle``: N-HiTS trains over and over in a ``ProcessWorker`` with the default
  ``WorkerLimits`` (nice 19, ``SCHED_IDLE``, one math thread) for the whole run;
- ``nice``: the same worker at nice 19 without ``SCHED_IDLE``;
- ``normal``: the same worker at normal priority (one math thread): what the limits buy.

That the trainer really trained is shown by the CPU seconds its process got while the serving
process ran, and the trainings it finished. Budget: p99 ≤ 3 ms while retraining.

Run: ``QT_DATA_DIR=../shared/data python bench/bench_retrain_latency.py [--quick]``. The first
process trains the serving models (kept under ``BENCH_HOME`` when set).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from bench_pipeline import CHILD, REPLAY_DAYS, SYMBOLS, TRAIN_DAYS, child
from quantum_trader.clock import ProcessWorker, WorkerLimits

BENCH_DIR = Path(__file__).resolve().parent
QUICK_SYMBOLS = "BTCUSDT,ETHUSDT,SOLUSDT"
TRAINER_SYMBOLS = ("BTCUSDT", "ETHUSDT")
TRAINER_ROWS = 365 * 24  # a year of 1h candles per symbol, pooled: one N-HiTS fit
VARIANTS: dict[str, WorkerLimits | None] = {
    "quiet": None,
    "idle": WorkerLimits(),
    "nice": WorkerLimits(nice=19, idle_class=False),
    "normal": WorkerLimits(nice=0, idle_class=False),
}

# Around bench_pipeline's CHILD: start the trainer first, report its share after.
PRELUDE = r"""
import os, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
from bench_retrain_latency import start_trainer, stop_trainer
trainer = start_trainer(os.environ["BENCH_VARIANT"], os.environ["BENCH_TRAINER_OUT"])
"""
EPILOGUE = r"""
stop_trainer(trainer, os.environ["BENCH_TRAINER_OUT"])
"""


@dataclass(frozen=True, slots=True)
class TrainerSpec:
    data_dir: str
    symbols: tuple[str, ...]
    rows: int
    done_file: str


def train_forever(spec: TrainerSpec) -> NoReturn:
    """Runs in the worker: fit N-HiTS again and again until the worker is shut down."""
    from quantum_trader.adapters.candle_store import CandleStore
    from quantum_trader.features.labels import LabelSpec
    from quantum_trader.models.forecasting.candles import CloseSeries, train_candle_forecaster

    store = CandleStore(Path(spec.data_dir))  # the shared data is laid out as a store
    series = [CloseSeries.from_candles(store.series(s, "1h")).tail(spec.rows) for s in spec.symbols]
    done = 0
    while True:
        train_candle_forecaster("nhits", series, LabelSpec(), seed=done, progress=False)
        done += 1
        with open(spec.done_file, "a", encoding="utf-8") as out:
            out.write(f"{time.time():.3f}\n")


@dataclass(slots=True)
class Trainer:
    worker: ProcessWorker
    cpu_at_start: float
    wall_at_start: float
    training: Future[NoReturn]


def start_trainer(variant: str, out: str) -> Trainer | None:
    """In the serving process, before the main job: the trainer's worker, training."""
    limits = VARIANTS[variant]
    if limits is None:
        return None
    worker = ProcessWorker(f"retrain-{variant}", limits)
    worker.start()
    data_dir = os.environ["QT_DATA_DIR"]
    training = worker.submit(
        train_forever, TrainerSpec(data_dir, TRAINER_SYMBOLS, TRAINER_ROWS, out + ".done")
    )
    time.sleep(3.0)  # torch imported and the first epoch under way before the clock starts
    if training.done():  # it trains until shut down: done this early means it failed
        raise RuntimeError(f"the {variant} trainer failed") from training.exception()
    return Trainer(worker, _cpu_seconds(worker.pid), time.monotonic(), training)


def stop_trainer(trainer: Trainer | None, out: str) -> None:
    if trainer is None:
        return
    if trainer.training.done():  # it never ends by itself: the trainer failed
        raise RuntimeError("the trainer failed beside the run") from trainer.training.exception()
    cpu = _cpu_seconds(trainer.worker.pid) - trainer.cpu_at_start
    wall = time.monotonic() - trainer.wall_at_start
    applied = trainer.worker.applied
    trainer.worker.shutdown()
    done = Path(out + ".done")
    report = {
        "cpu_s": cpu,
        "wall_s": wall,
        "trainings": len(done.read_text().splitlines()) if done.exists() else 0,
        "nice": applied.nice if applied else None,
        "idle_class": applied.idle_class if applied else None,
        "threads": applied.threads_env if applied else None,
    }
    Path(out).write_text(json.dumps(report))


def _cpu_seconds(pid: int | None) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    home: Path, variant: str, symbols: str, replay_days: int, train_env: dict[str, str]
) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="qt-trainer-") as tmp:
        out = str(Path(tmp) / "trainer.json")
        env = {"BENCH_DIR": str(BENCH_DIR), "BENCH_VARIANT": variant, "BENCH_TRAINER_OUT": out}
        env.update(train_env)
        script = PRELUDE + CHILD + EPILOGUE
        try:
            run = child(home, replay_days, False, script=script, symbols=symbols, extra_env=env)
        except subprocess.CalledProcessError as exc:
            sys.exit(f"{variant}: the serving process failed:\n{exc.stderr}")
        if Path(out).exists():
            run["trainer"] = json.loads(Path(out).read_text())
        return run


def line(variant: str, run: dict[str, object]) -> str:
    lat = run["latency_us"]
    assert isinstance(lat, dict)
    text = (
        f"| {variant} | {run['decisions']:,} | {lat['p50'] / 1e3:.2f} | {lat['p99'] / 1e3:.2f} "
        f"| {lat['max'] / 1e3:.1f} | {run['replay_seconds']:.1f} |"
    )
    trainer = run.get("trainer")
    if isinstance(trainer, dict):
        share = trainer["cpu_s"] / trainer["wall_s"] if trainer["wall_s"] else 0.0
        text += (
            f" {trainer['cpu_s']:.1f} s in {trainer['wall_s']:.1f} s ({share:.0%} of a core), "
            f"{trainer['trainings']} fits done; nice {trainer['nice']}, "
            f"SCHED_IDLE {trainer['idle_class']}, {trainer['threads']} thread |"
        )
    else:
        text += " (no trainer) |"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SYMBOLS}, 120 train days")
    parser.add_argument("--variants", default="quiet,idle,nice,normal")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, variants interleaved")
    args = parser.parse_args()
    if not os.environ.get("QT_DATA_DIR"):
        sys.exit("set QT_DATA_DIR (e.g. ../shared/data)")
    symbols = QUICK_SYMBOLS if args.quick else SYMBOLS
    variants = args.variants.split(",")
    keep = os.environ.get("BENCH_HOME")
    with tempfile.TemporaryDirectory(prefix="qt-bench-") as tmp:
        home = Path(keep) if keep else Path(tmp)
        load = os.getloadavg()
        print(f"machine: {os.cpu_count()} cores, load {load[0]:.1f}/{load[1]:.1f}; {symbols}")
        train_env = {"QT_TRAIN_DAYS": "120"} if args.quick else {}
        started = time.monotonic()
        trained = child(home, 1, symbols=symbols, extra_env=train_env)
        print(
            f"serving models: {trained['trained'] or 'already trained'} "
            f"({time.monotonic() - started:.0f} s)"
        )
        print(
            "\n| variant | decisions | p50 ms | p99 ms | max ms | replay s | trainer beside it "
            "| load after (1 min) |\n|---|---|---|---|---|---|---|---|"
        )
        for _ in range(args.repeat):
            for variant in variants:
                run = measure(home, variant, symbols, REPLAY_DAYS, train_env)
                print(f"{line(variant, run)} {os.getloadavg()[0]:.1f} |", flush=True)
        load = os.getloadavg()
        print(f"\nload after: {load[0]:.1f}/{load[1]:.1f} (1/5 min); budget p99 ≤ 3 ms")
        print(f"(training days {train_env.get('QT_TRAIN_DAYS', TRAIN_DAYS)})")


if __name__ == "__main__":
    main()
