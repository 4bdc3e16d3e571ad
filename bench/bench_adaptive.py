"""Adaptive ensemble vs equal weights: the four production members, walk-forward on real data.

Members: xgb, lgbm, nhits, patchtst, trained and scored on each fold exactly as
``quantum-trader evaluate`` does (``learning/fold_models.py``: tree models on the feature rows,
forecasters on the closes through their ONNX serving path), on the same folds: per symbol the
last ``N_FOLDS`` blocks of ``BLOCK`` hours, each after ``TRAIN`` hours of training with the label
horizon as purge gap. Labels: ``quantum_trader.features.labels`` (horizon 4, dead zone 0.1%).

The members' predictions of all symbols are then replayed hour by hour through
:class:`Intelligence`; outcomes resolve only when their horizon has passed on the clock, and the
covariate-shift reference of every member is its fold's training features. The soft vote
``p = sum_i w_i p_i`` is scored by log-loss for each weighting.
Run: ``QT_DATA_DIR=../shared/data python bench/bench_adaptive.py``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.bus import InProcessBus
from quantum_trader.bus.topics import MODEL_COVARIATE_SHIFT, MODEL_DRIFT_DETECTED
from quantum_trader.clock import SimulatedClock
from quantum_trader.features.dataset import make_dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.intelligence import MODULES, Intelligence, IntelligenceConfig, ShiftReference
from quantum_trader.intelligence.ledger import horizon_end_time
from quantum_trader.learning.fold_models import FoldData
from quantum_trader.learning.trainers import FAMILIES
from quantum_trader.learning.walk_forward import WalkForwardConfig, make_folds
from quantum_trader.status import StatusRegistry

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT")
HOUR = 3_600_000
SPEC = LabelSpec(horizon=4, dead_zone=0.001)
N_FOLDS, BLOCK, TRAIN = 3, 60 * 24, 365 * 24
MEMBERS = tuple(FAMILIES)
CHECK_EVERY = 24
FEATURES: tuple[str, ...] = ()  # the feature pipeline's names, set by walk_forward


@dataclass
class SymbolRun:
    symbol: str
    times: np.ndarray  # open times of the test rows
    labels: np.ndarray  # int classes
    probs: dict[str, np.ndarray]  # member -> (n, 3)
    live: np.ndarray  # features of the test rows
    fold_of_row: np.ndarray
    train_features: list[np.ndarray]  # per fold, for the covariate-shift reference


def walk_forward(data_dir: Path, symbol: str) -> SymbolRun:
    global FEATURES
    store = CandleStore(data_dir)  # the shared folder has the store's layout: read in place
    candles = store.series(symbol, "1h")
    market = store.series("BTCUSDT", "1h") if symbol != "BTCUSDT" else None
    data = make_dataset(candles, store.funding_series(symbol), market, labels=SPEC)
    FEATURES = data.names
    labelled = data.rows(0, int((~np.isnan(data.y)).sum()))
    config = WalkForwardConfig(
        train_rows=TRAIN, test_rows=BLOCK, step_rows=BLOCK, max_folds=N_FOLDS
    )
    folds = make_folds(len(labelled), SPEC.horizon, config)
    probs: dict[str, list[np.ndarray]] = {m: [] for m in MEMBERS}
    times, labels, live, fold_of_row, train_sets = [], [], [], [], []
    for k, fold in enumerate(folds):
        train, test = labelled.rows(*fold.train), labelled.rows(*fold.test)
        fd = FoldData(train, test, candles, params={}, forecast_epochs=None, seed=7)
        for m in MEMBERS:
            pred = FAMILIES[m].fold(fd)
            assert np.array_equal(pred.scored_open_time, test.open_time)
            p = np.clip(pred.proba, 0.0, 1.0)
            probs[m].append(p / p.sum(1, keepdims=True))  # float noise: every vote sums to 1
        times.append(test.open_time)
        labels.append(test.y.astype(int))
        live.append(test.x)
        fold_of_row.append(np.full(len(test), k))
        train_sets.append(train.x)
    return SymbolRun(
        symbol,
        np.concatenate(times),
        np.concatenate(labels),
        {m: np.vstack(v) for m, v in probs.items()},
        np.vstack(live),
        np.concatenate(fold_of_row),
        train_sets,
    )


def variant(enabled: tuple[str, ...]) -> IntelligenceConfig:
    return IntelligenceConfig(enabled={m: m in enabled for m in MODULES})


FULL = "all four (incl. drift, covariate shift)"
VARIANTS = {
    "equal weights": (),
    "memory_states": ("memory_states",),
    "reinforcement": ("reinforcement",),
    "memory + reinforcement": ("memory_states", "reinforcement"),
    FULL: MODULES,
}


def replay(runs: list[SymbolRun]) -> None:
    clock = SimulatedClock(0)
    bus = InProcessBus(clock)
    events = {MODEL_DRIFT_DETECTED.name: 0, MODEL_COVARIATE_SHIFT.name: 0}
    for topic in events:
        bus.subscribe(topic, lambda e: events.__setitem__(e.type, events[e.type] + 1))
    registries = {name: StatusRegistry(clock) for name in VARIANTS}
    intels = {
        name: Intelligence(variant(mods), bus=bus, registry=registries[name])
        for name, mods in VARIANTS.items()
    }
    label_of = {
        (r.symbol, int(t)): int(lab) for r in runs for t, lab in zip(r.times, r.labels, strict=True)
    }
    losses: dict[str, list[float]] = {name: [] for name in VARIANTS}
    member_losses: dict[str, list[float]] = {m: [] for m in MEMBERS}
    times = sorted({int(t) for r in runs for t in r.times})
    index = {r.symbol: {int(t): i for i, t in enumerate(r.times)} for r in runs}
    folds_seen: dict[str, int] = {}
    for t in times:
        now = t + HOUR  # the candle opened at t has closed: features and votes exist now
        clock.advance_to(now)
        for intel in intels.values():
            intel.resolve(now, lambda s, pt: label_of.get((s, pt)))
        for r in runs:
            i = index[r.symbol].get(t)
            if i is None:
                continue
            label = int(r.labels[i])
            for m in MEMBERS:
                member_losses[m].append(-np.log(max(r.probs[m][i][label], 1e-15)))
            fold = int(r.fold_of_row[i])
            new_fold = folds_seen.get(r.symbol) != fold
            folds_seen[r.symbol] = fold
            for name, intel in intels.items():
                cov = intel.covariate
                if cov is not None:
                    for m in MEMBERS:
                        if new_fold:  # the members were retrained: their reference changes
                            ref = ShiftReference.fit(r.train_features[fold], FEATURES, cov.config)
                            cov.set_reference(m, ref, symbol=r.symbol)
                        if i >= 256 and i % CHECK_EVERY == 0:
                            live = r.live[i - 255 : i + 1]
                            intel.check_features(r.symbol, m, live, FEATURES, now)
                weights, _ = intel.weights(r.symbol, MEMBERS, now)
                p = sum(weights[m] * r.probs[m][i] for m in MEMBERS)
                losses[name].append(-np.log(max(float(p[label]), 1e-15)))
                for m in MEMBERS:
                    probs = tuple(float(v) for v in r.probs[m][i])
                    intel.observe(r.symbol, m, probs, t, horizon_end_time(t, SPEC.horizon, HOUR))
    base = np.mean(losses["equal weights"])
    print("| weighting | mean log-loss | vs equal weights | 95% CI of the difference |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(0)
    eq = np.asarray(losses["equal weights"])
    for name, ls in losses.items():
        arr = np.asarray(ls)
        diff = arr - eq
        # block bootstrap over days (24 consecutive rows share overlapping labels)
        blocks = diff[: len(diff) // 144 * 144].reshape(-1, 144).mean(1)
        boot = [rng.choice(blocks, len(blocks)).mean() for _ in range(1000)]
        lo, hi = np.percentile(boot, [2.5, 97.5])
        print(f"| {name} | {arr.mean():.5f} | {arr.mean() - base:+.5f} | [{lo:+.5f}, {hi:+.5f}] |")
    for m, ls in member_losses.items():
        print(f"| member {m} alone | {np.mean(ls):.5f} | {np.mean(ls) - base:+.5f} | |")
    print(f"events (all variants): {events}")
    full_registry = registries[FULL]
    for name in MODULES:
        print(f"  {name}: {full_registry.get(name).status.counters}")


def main() -> None:
    started = time.perf_counter()
    data_dir = Path(os.environ.get("QT_DATA_DIR", "../shared/data"))
    runs = []
    for symbol in SYMBOLS:
        runs.append(walk_forward(data_dir, symbol))
        print(f"trained {symbol}: {time.perf_counter() - started:.0f} s", flush=True)
    print(f"{len(SYMBOLS)} symbols x {N_FOLDS * BLOCK} test hours, members {MEMBERS}")
    replay(runs)
    print(f"took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
