"""The PPO selector against its yardsticks on the shared data (issue 18 acceptance).

``QT_SELECTOR=ppo quantum-trader evaluate --system`` replays, fold by fold, the system with the
PPO selector's policy (trained by module 16 on the fold's training window before the fold,
frozen over it: ``app/system_evaluation.py``) beside the baselines through the same engine.
This bench runs that walk-forward for several seeds (each seed its own folder: its own members
and its own policy) and reports, per variant, the interquartile mean (IQM) of the net Sharpe
over every (seed, fold) cell with a 95 % bootstrap interval (cells resampled), and the IQM of
the paired difference PPO − each yardstick. Whichever way it goes is recorded in
docs/agents.md.

    python bench/bench_ppo_selector.py --seeds 5 --folds 3 --fold-days 60 --episodes 32

Tree members only (xgb + lgbm) and continuous learning off by default, for time (every variant
is affected alike); everything else is the main job's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS = (
    "system",
    "rule_selector",
    "random_selector",
    "neutral",
    "only_TrendFollowing",
    "only_MeanReversion",
    "only_Breakout",
)


def iqm(values: np.ndarray) -> float:
    """The mean of the middle half (25 % cut each side)."""
    ordered = np.sort(values)
    cut = len(ordered) // 4
    return float(np.mean(ordered[cut : len(ordered) - cut]))


def interval(values: np.ndarray, seed: int = 0, reps: int = 2_000) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    draws = [iqm(rng.choice(values, size=len(values))) for _ in range(reps)]
    return iqm(values), float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975))


def run_seed(seed: int, args: argparse.Namespace, folder: Path) -> dict[str, list[float]]:
    from quantum_trader.app.system_evaluation import EngineFoldRunner
    from quantum_trader.config import load_settings
    from quantum_trader.domain.time import MS_PER_DAY
    from quantum_trader.evaluation.folds import BASELINES, SYSTEM, plan_folds
    from quantum_trader.evaluation.system import evaluate_variants

    overrides: dict[str, Any] = {
        "selector": "ppo",
        "seed": seed,
        "ensemble_models": args.models.split(","),
        "rl_bootstrap_episodes": args.episodes,
        # the variants differ in their selector only: the members are the fold's bootstrap
        # ones for all of them (continuous learning would retrain within each replay, a
        # minute each on two cores, the same way for every variant)
        "continuous_learning_enabled": args.continuous_learning,
    }
    settings = load_settings(**overrides, offline=True)
    stop = args.end * MS_PER_DAY
    first = stop - args.folds * args.fold_days * MS_PER_DAY
    plan = plan_folds(start=first, end=stop, folds=args.folds, train_days=args.train_days)
    variants = (SYSTEM, *(b for b in BASELINES if b.name in VARIANTS))
    runner = EngineFoldRunner(overrides, folder / f"seed-{seed}")
    results = evaluate_variants(
        plan, variants, runner, timeframe=settings.timeframe, horizon=settings.label_horizon
    )
    # a replay that never trades has a flat equity curve: no Sharpe is defined, it earned 0
    return {
        name: [p.sharpe if np.isfinite(p.sharpe) else 0.0 for p in r.folds]
        for name, r in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--fold-days", type=int, default=60)
    parser.add_argument("--train-days", type=int, default=365)
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--models", default="xgb,lgbm")
    parser.add_argument("--continuous-learning", action="store_true")
    # 2024-06-01 (epoch day 19875): the shared data's last whole month ends there
    parser.add_argument("--end", type=int, default=19_875, help="end day (days since 1970)")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/bench_ppo_selector"))
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    shutil.rmtree(args.folder, ignore_errors=True)
    os.environ.setdefault("QT_HOME", str(args.folder / "home"))
    os.environ.setdefault("QT_DATA_DIR", "../shared/data")
    started = time.perf_counter()
    cells: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for seed in range(1, args.seeds + 1):
        began = time.perf_counter()
        sharpe = run_seed(seed, args, args.folder)
        for name in VARIANTS:
            cells[name].extend(sharpe[name])
        print(f"seed {seed}: {time.perf_counter() - began:.0f} s", {
            n: [round(x, 2) for x in v] for n, v in sharpe.items()}, flush=True)  # fmt: skip
    ppo = np.asarray(cells["system"], dtype=float)
    report: dict[str, Any] = {"cells": len(ppo), "seconds": round(time.perf_counter() - started)}
    for name in VARIANTS:
        values = np.asarray(cells[name], dtype=float)
        point, low, high = interval(values)
        diff = interval(ppo - values) if name != "system" else None
        report[name] = {"iqm_sharpe": [round(point, 3), round(low, 3), round(high, 3)]}
        if diff is not None:
            report[name]["ppo_minus_iqm"] = [round(x, 3) for x in diff]
        label = "ppo_selector" if name == "system" else name
        extra = (
            "" if diff is None else f"; PPO − it {diff[0]:+.2f} [{diff[1]:+.2f}, {diff[2]:+.2f}]"
        )
        print(f"{label:22s} IQM net Sharpe {point:+.2f} [{low:+.2f}, {high:+.2f}]{extra}")
    print(json.dumps(report))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
