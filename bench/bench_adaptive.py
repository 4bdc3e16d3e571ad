"""Adaptive ensemble vs equal weights, walk-forward on real hourly data of six symbols.

The real ensemble (xgb/lgbm/nhits/patchtst) is built elsewhere; this bench trains three simple
members per symbol itself, so the figure can be re-run later with the real members:

- ``logit``: multinomial logistic regression (L2) on lagged-return/volatility/volume features;
- ``lgbm``: LightGBM (100 trees, 15 leaves) on the same features;
- ``prior``: the class frequencies of the training window (a climatology member).

Walk-forward: the last 10,000 hours per symbol are split into 10 test blocks of 1,000 hours;
each block's members are trained on the 6,000 hours before it (minus a gap of the label
horizon, so no training label looks into the block). Labels: ``quantum_trader.features.labels``
(horizon 4, dead zone 0.1%). The predictions of all symbols are then replayed hour by hour
through :class:`Intelligence`; outcomes resolve only when their horizon has passed. The soft-vote
ensemble ``p = sum_i w_i p_i`` is scored by log-loss for each weighting.
Run: ``PYTHONPATH=src python bench/bench_adaptive.py``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.optimize import minimize

from quantum_trader.bus import InProcessBus
from quantum_trader.bus.topics import MODEL_COVARIATE_SHIFT, MODEL_DRIFT_DETECTED
from quantum_trader.clock import SimulatedClock
from quantum_trader.features.labels import LabelSpec, direction_labels
from quantum_trader.intelligence import MODULES, Intelligence, IntelligenceConfig, ShiftReference
from quantum_trader.intelligence.ledger import horizon_end_time
from quantum_trader.status import StatusRegistry

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "XRPUSDT", "ADAUSDT", "LINKUSDT")
HOUR = 3_600_000
SPEC = LabelSpec(horizon=4, dead_zone=0.001)
TEST_HOURS, BLOCK, TRAIN = 10_000, 1_000, 6_000
MEMBERS = ("logit", "lgbm", "prior")
FEATURES = ("ret_1", "ret_4", "ret_12", "ret_24", "range", "vol_24", "volume_z")
CHECK_EVERY = 24


def load_candles(data_dir: Path, symbol: str) -> pd.DataFrame:
    """The one place this bench reads market data (swap for the candle store later)."""
    frame = pd.read_parquet(data_dir / "ohlcv" / f"{symbol}-1h.parquet")
    frame["open_time"] = frame["timestamp"].astype("int64") // 1_000_000
    return frame.drop(columns=["timestamp"])


def features(c: pd.DataFrame) -> np.ndarray:
    logc = np.log(c["close"])
    ret1 = logc.diff()
    logv = np.log(c["volume"] + 1.0)
    cols = [
        ret1,
        logc.diff(4),
        logc.diff(12),
        logc.diff(24),
        (c["high"] - c["low"]) / c["close"],
        ret1.rolling(24).std(),
        (logv - logv.rolling(24).mean()) / logv.rolling(24).std(),
    ]
    return np.column_stack([np.asarray(col, dtype=np.float64) for col in cols])


class Logit:
    """Multinomial logistic regression, L2-regularised, fitted by L-BFGS."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> Logit:
        self.mu, self.sd = x.mean(0), x.std(0) + 1e-12
        z = np.c_[(x - self.mu) / self.sd, np.ones(len(x))]
        onehot = np.eye(3)[y]

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            wm = w.reshape(z.shape[1], 3)
            logits = z @ wm
            logits -= logits.max(1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(1, keepdims=True)
            nll = -np.mean(np.sum(onehot * np.log(p + 1e-15), 1)) + 1e-3 * np.sum(wm[:-1] ** 2)
            grad = z.T @ (p - onehot) / len(z)
            grad[:-1] += 2e-3 * wm[:-1]
            return float(nll), grad.ravel()

        res = minimize(loss, np.zeros(z.shape[1] * 3), jac=True, method="L-BFGS-B")
        self.w = res.x.reshape(z.shape[1], 3)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        logits = np.c_[(x - self.mu) / self.sd, np.ones(len(x))] @ self.w
        p = np.exp(logits - logits.max(1, keepdims=True))
        return p / p.sum(1, keepdims=True)


@dataclass
class SymbolRun:
    symbol: str
    times: np.ndarray  # open times of the test rows
    labels: np.ndarray  # int classes
    probs: dict[str, np.ndarray]  # member -> (n, 3)
    live: np.ndarray  # features of the test rows
    fold_of_row: np.ndarray
    train_features: list[np.ndarray]  # per fold, for the covariate-shift reference


def walk_forward(c: pd.DataFrame, symbol: str) -> SymbolRun:
    x = features(c)
    y = direction_labels(c["close"].to_numpy(), SPEC)
    ok = ~np.isnan(x).any(1) & ~np.isnan(y)
    start = len(c) - SPEC.horizon - TEST_HOURS
    probs = {m: np.zeros((TEST_HOURS, 3)) for m in MEMBERS}
    folds, train_sets = np.zeros(TEST_HOURS, dtype=int), []
    for k in range(TEST_HOURS // BLOCK):
        lo = start + k * BLOCK
        train = np.arange(lo - SPEC.horizon - TRAIN, lo - SPEC.horizon)
        train = train[ok[train]]
        xt, yt = x[train], y[train].astype(int)
        test = np.arange(lo, lo + BLOCK)
        probs["logit"][k * BLOCK : (k + 1) * BLOCK] = Logit().fit(xt, yt).predict(x[test])
        booster = lgb.train(
            {
                "objective": "multiclass",
                "num_class": 3,
                "learning_rate": 0.05,
                "num_leaves": 15,
                "min_data_in_leaf": 100,
                "feature_fraction": 0.8,
                "verbose": -1,
                "num_threads": 1,
                "seed": 7,
            },
            lgb.Dataset(xt, yt),
            num_boost_round=100,
        )
        probs["lgbm"][k * BLOCK : (k + 1) * BLOCK] = booster.predict(x[test])
        prior = (np.bincount(yt, minlength=3) + 1) / (len(yt) + 3)
        probs["prior"][k * BLOCK : (k + 1) * BLOCK] = prior
        folds[k * BLOCK : (k + 1) * BLOCK] = k
        train_sets.append(xt)
    rows = np.arange(start, start + TEST_HOURS)
    for m in MEMBERS:  # renormalise away float noise so every vote sums to 1
        probs[m] = probs[m] / probs[m].sum(1, keepdims=True)
    return SymbolRun(
        symbol,
        c["open_time"].to_numpy()[rows],
        y[rows].astype(int),
        probs,
        x[rows],
        folds,
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
    events = {MODEL_DRIFT_DETECTED: 0, MODEL_COVARIATE_SHIFT: 0}
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
                    for m in ("logit", "lgbm"):
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
        runs.append(walk_forward(load_candles(data_dir, symbol), symbol))
        print(f"trained {symbol}: {time.perf_counter() - started:.0f} s", flush=True)
    print(f"{len(SYMBOLS)} symbols x {TEST_HOURS} test hours, members {MEMBERS}")
    replay(runs)
    print(f"took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
