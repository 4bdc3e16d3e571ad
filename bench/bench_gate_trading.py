"""The validation gate's trading check on real candles: its A/A false-fail rate and its cost.

A twin of a champion (the same line, the same training rows, another seed of the trees' row
and column sampling: as good in expectation, not identical, so its trades differ) is judged by
the trading check alone (``learning/trading_check.py``) against the champion on several
two-week windows after the training, each arm replayed through the main job by the app's
scorer (``app/gate_replays.py``), every other member as trained. A fail is a false one: the
twin is no worse by construction. The check's level is 5 % one-sided, so about 5 % of fails
is what a calibrated check gives; the twins of one window share its champion replay, so
their verdicts are not independent.

    QT_DATA_DIR=../shared/data PYTHONPATH=src nice -n 10 .venv/bin/python \\
        bench/bench_gate_trading.py --windows 10 --twins 4

Trains the run's models first (the forecasters included: about 2 minutes here).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.compose import labels
from quantum_trader.app.continuous_learning import store_reader
from quantum_trader.app.gate_replays import EngineTradingScorer
from quantum_trader.app.main_job import run_main_job
from quantum_trader.app.system_evaluation import replay_window
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.config import load_settings
from quantum_trader.domain.time import MS_PER_DAY, fmt, from_datetime, timeframe_ms
from quantum_trader.learning.daemon import ReadDataset
from quantum_trader.learning.registry import ModelKey, ModelRegistry, ModelVersion
from quantum_trader.learning.trading_check import check_trading, check_unseen
from quantum_trader.learning.trainers import FitOptions, Fitted, TrainingWindow, fit

WINDOW_DAYS = 14  # the gate's 336 hourly rows


def twins(
    registry: ModelRegistry,
    artifacts: LocalArtifactStore,
    read: ReadDataset,
    key: ModelKey,
    n: int,
    history: tuple[int, int],
) -> list[ModelVersion]:
    """``n`` seed twins of ``key``'s PRODUCTION version: the bootstrap's dataset read again
    (the same candles, ``history``), the trees' sampling seed changed. The bootstrap's own seed
    must give back the champion's very artifact, or the twins are not twins."""
    champion = registry.production(key)
    assert champion is not None
    rows = read(key.scope, *history)

    def fitted(seed: int | None) -> Fitted:
        params = {} if seed is None else {"seed": seed}
        options = FitOptions(params=params)
        # trained "at" the bootstrap's engine time, as the champion was (its lineage says when)
        return fit(
            key.model, TrainingWindow(rows), options, artifacts, clock=SimulatedClock(history[1])
        )

    if fitted(None).digest != champion.artifact_hash:
        raise SystemExit(f"{key}: refitting the champion's rows did not give its artifact back")
    out = []
    for seed in range(1, n + 1):
        twin = fitted(seed)
        reason = f"twin seed {seed}"
        out.append(registry.register(twin.metadata, twin.digest, actor="bench", reason=reason))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--twins", type=int, default=4)
    parser.add_argument("--line", default="lgbm/ETHUSDT/h4")
    parser.add_argument("--start", default="2024-01-01", help="first window (models before)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--home", help="keep the models here (default: a temporary folder)")
    args = parser.parse_args()
    key = ModelKey.parse(args.line)
    start = from_datetime(datetime.fromisoformat(args.start).replace(tzinfo=UTC))
    parser_home = args.home
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(parser_home) if parser_home else Path(tmp)
        settings = load_settings(
            home=home,
            offline=True,
            continuous_learning_enabled=False,
            model_supervisor_enabled=False,
            data_dir=Path(os.environ.get("QT_DATA_DIR", "../shared/data")),
        )
        began = time.perf_counter()
        # the champions: every line trained on the train_days before the first window
        run = run_main_job(settings, window=(start, start + timeframe_ms("1h")), write_report=False)
        print(f"models trained before {fmt(start)}: {time.perf_counter() - began:.0f} s")
        registry = ModelRegistry(SqlRegistryRepository(run.runtime.db), SimulatedClock(start))
        artifacts = LocalArtifactStore(settings.effective_artifacts_dir)
        store = CandleStore(settings.effective_store_dir)
        read = store_reader(store, settings.timeframe, labels(settings), settings.symbols)
        history = (start - settings.train_days * MS_PER_DAY, start)  # the bootstrap's candles
        judged = twins(registry, artifacts, read, key, args.twins, history)
        scorer = EngineTradingScorer(
            replay_window, settings, registry, artifacts, settings.symbols, home / "v", "bench"
        )
        fails, rows, differed, seconds = 0, 0, 0, []
        for w in range(args.windows):
            first = start + w * WINDOW_DAYS * MS_PER_DAY
            window = (first, first + WINDOW_DAYS * MS_PER_DAY)
            for twin in judged:
                check_unseen(twin, window, settings.label_horizon, timeframe_ms("1h"))
                began = time.perf_counter()
                replays = scorer(twin, window)
                seconds.append(time.perf_counter() - began)
                check = check_trading(replays, alpha=args.alpha, seed=rows)
                interval = check.difference
                assert interval is not None
                fails += not check.passed
                rows += 1
                differed += not np.array_equal(replays.candidate.returns, replays.champion.returns)
                print(
                    f"{fmt(window[0])[:10]} twin v{twin.version}: Sharpe "
                    f"{replays.candidate.performance.sharpe:+.2f} vs "
                    f"{replays.champion.performance.sharpe:+.2f}, trades "
                    f"{replays.candidate.performance.trades} vs "
                    f"{replays.champion.performance.trades}, difference {interval.point:+.2f} "
                    f"[upper {interval.high:+.2f}] {'PASS' if check.passed else 'FAIL'} "
                    f"({seconds[-1]:.1f} s)"
                )
        print(
            f"A/A {key}: {fails} of {rows} twin judgements failed the trading check alone "
            f"({fails / rows:.1%}, level {args.alpha:.0%} one-sided); in {differed} the twin "
            f"traded otherwise than the champion; {scorer.replays} replays; "
            f"per judgement median {np.median(seconds):.1f} s (the first of a window includes "
            f"the champion's replay)"
        )


if __name__ == "__main__":
    main()
