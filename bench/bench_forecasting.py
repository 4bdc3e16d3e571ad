"""Deep forecasting members on 2 cores: training time, live-path latency, serving RSS, accuracy.

Run: ``PYTHONPATH=src .venv/bin/python bench/bench_forecasting.py [--quick]``. Needs the shared
market data (``QT_DATA_DIR``). Prints markdown tables (the figures in docs/forecasting.md).

1. Training each model on 2 years of BTCUSDT-1h (input 168, horizon 4) with the member defaults.
2. p50/p99 of one ``ForecastMember.vote`` (window checks, ONNX Runtime, quantiles → classes)
   over >= 2000 calls, in a fresh process that never imports torch.
3. RSS the serving process gains by importing the serving path and loading both models
   (VmRSS / VmHWM from /proc/self/status), next to what ``import torch`` alone costs.
4. Walk-forward (3 folds, 1 year of training before each 30-day test block) on 5 symbols: MAE
   of the 4h forward return against the zero-return and seasonal-naive (24h) baselines, and
   direction accuracy / log loss on the shared labels (the tabular members' metrics).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.features.labels import LabelSpec, forward_returns
from quantum_trader.models.forecasting.candles import (
    INPUT_SIZE,
    CloseSeries,
    save_candle_member,
    train_candle_forecaster,
)
from quantum_trader.models.forecasting.member import ForecastMember, direction_probabilities

ROOT = Path(__file__).resolve().parents[1]
HOURS_PER_YEAR = 365 * 24
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT")
MODELS = ("nhits", "patchtst")

SERVING_SCRIPT = r"""
import json, sys, time
from pathlib import Path
def status():
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields
import numpy as np
import pandas, quantum_trader.domain, quantum_trader.features.labels, quantum_trader.status
before = status()
from quantum_trader.models.forecasting.member import ForecastMember
members = [ForecastMember.load(Path(p)) for p in sys.argv[2:]]
closes = np.load(sys.argv[1])
for m in members:
    m.vote("BTCUSDT", closes[:200])
after_load = status()
latency = {}
for m in members:
    times = []
    for i in range(2500):
        window = closes[i : i + 200]
        t0 = time.perf_counter_ns()
        m.vote("BTCUSDT", window)
        times.append(time.perf_counter_ns() - t0)
    t = np.array(times[100:]) / 1e6
    latency[m.name] = {"p50_ms": float(np.percentile(t, 50)), "p99_ms": float(np.percentile(t, 99)),
                       "mean_ms": float(t.mean()), "calls": len(t)}
after = status()
print(json.dumps({"before": before, "after_load": after_load, "after": after,
                  "torch_imported": "torch" in sys.modules, "latency": latency}))
"""

TORCH_SCRIPT = r"""
import json
from pathlib import Path
def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
import numpy, pandas
before = rss()
import torch
print(json.dumps({"before": before, "after": rss()}))
"""


def data_dir() -> Path:
    env = os.environ.get("QT_DATA_DIR")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    if not (path / "ohlcv").is_dir():
        sys.exit(f"market data not found at {path}; set QT_DATA_DIR")
    return path


def series(symbol: str) -> CloseSeries:
    return CloseSeries.from_candles(CandleStore(data_dir()).series(symbol, "1h"))


def bench_training(labels: LabelSpec, out: Path, epochs: int | None) -> dict[str, Path]:
    btc = series("BTCUSDT").tail(2 * HOURS_PER_YEAR)
    print("\n## Training on 2 years of BTCUSDT-1h (17,520 rows), input 168, horizon 4\n")
    print("| model | params | epochs run (best) | val pinball | seconds |")
    print("|---|---|---|---|---|")
    dirs = {}
    for name in MODELS:
        model, meta = train_candle_forecaster(name, [btc], labels, epochs=epochs, progress=False)
        params = sum(p.numel() for p in model.network.parameters())
        dirs[name] = out / name
        save_candle_member(model, meta, dirs[name])
        m = meta.metrics
        print(
            f"| {name} | {params:,} | {m['epochs_run']:.0f} ({m['best_epoch'] + 1:.0f}) | "
            f"{m['validation_pinball']:.6f} | {m['train_seconds']:.1f} |"
        )
    return dirs


def bench_serving(dirs: dict[str, Path], out: Path) -> None:
    closes = series("BTCUSDT").close[-3000:]
    np.save(out / "closes.npy", closes)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    args = [sys.executable, "-c", SERVING_SCRIPT, str(out / "closes.npy"), *map(str, dirs.values())]
    served = json.loads(
        subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout
    )
    torch_args = [sys.executable, "-c", TORCH_SCRIPT]
    torch_rss = json.loads(
        subprocess.run(torch_args, capture_output=True, text=True, check=True).stdout
    )
    print("\n## Live path: ForecastMember.vote, one window, ONNX Runtime 1 thread, no torch\n")
    print("| model | calls | p50 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|")
    for name, lat in served["latency"].items():
        print(
            f"| {name} | {lat['calls']} | {lat['p50_ms']:.3f} | {lat['p99_ms']:.3f} | {lat['mean_ms']:.3f} |"
        )
    before, load, after = served["before"], served["after_load"], served["after"]
    print("\n## Serving process memory (MiB)\n")
    print(f"- torch imported by the serving process: {served['torch_imported']}")
    print(
        f"- before (numpy, pandas, quantum_trader core): VmRSS {before['VmRSS']:.1f}, VmHWM {before['VmHWM']:.1f}"
    )
    print(f"- after importing the serving path and loading both models: VmRSS {load['VmRSS']:.1f}")
    print(f"- after 2x2500 votes: VmRSS {after['VmRSS']:.1f}, VmHWM {after['VmHWM']:.1f}")
    print(
        f"- **added peak RSS (VmHWM after - VmHWM before): {after['VmHWM'] - before['VmHWM']:.1f} MiB**"
    )
    print(
        f"- for comparison, `import torch` alone adds {torch_rss['after'] - torch_rss['before']:.1f} MiB"
    )


def walk_forward(
    labels: LabelSpec, out: Path, symbols: tuple[str, ...], folds: int, epochs: int | None
) -> None:
    test_rows, train_rows, h = 30 * 24, HOURS_PER_YEAR, labels.horizon
    rows: dict[str, dict[str, list[float]]] = {}
    started = time.perf_counter()
    for symbol in symbols:
        full = series(symbol)
        fwd = forward_returns(full.close, h)
        for fold in range(folds):
            test_end = len(full.close) - h - (folds - 1 - fold) * test_rows
            test_start = test_end - test_rows
            train = CloseSeries(
                symbol,
                full.open_time[test_start - train_rows : test_start],
                full.close[test_start - train_rows : test_start],
            )
            origins = np.arange(test_start, test_end)  # forecast made at the close of t
            truth = fwd[origins]
            windows = np.stack([full.close[o - INPUT_SIZE + 1 : o + 1] for o in origins])
            zero = np.zeros_like(truth)
            seasonal = full.close[origins - 24 + h] / full.close[origins - 24] - 1.0
            prior = class_prior(full.close[test_start - train_rows : test_start], labels)
            add(
                rows,
                "class prior (train freq.)",
                symbol,
                truth,
                zero,
                np.tile(prior, (len(truth), 1)),
                labels,
            )
            add(rows, "zero return", symbol, truth, zero, None, labels)
            add(rows, "seasonal naive (24h)", symbol, truth, seasonal, None, labels)
            for name in MODELS:
                model, meta = train_candle_forecaster(
                    name, [train], labels, epochs=epochs, progress=False
                )
                directory = out / f"wf-{symbol}-{fold}-{name}"
                save_candle_member(model, meta, directory)
                member = ForecastMember.load(directory)
                q = np.stack([member.return_quantiles(w) for w in windows])
                median = q[:, len(member.model.spec.quantiles) // 2]
                probs = np.array(
                    [
                        direction_probabilities(
                            np.asarray(member.model.spec.quantiles), r, labels.dead_zone
                        )
                        for r in q
                    ]
                )
                add(rows, name, symbol, truth, median, probs, labels)
    print(
        f"\n## Walk-forward: {len(symbols)} symbols x {folds} folds (1y train, 30d test), 4h forward return\n"
    )
    print(f"(total {time.perf_counter() - started:.0f} s)\n")
    print("| forecaster | " + " | ".join(symbols) + " | mean MAE | direction acc | log loss |")
    print("|---|" + "---|" * (len(symbols) + 3))
    for name, per in rows.items():
        maes = [float(np.mean(per[f"mae:{s}"])) for s in symbols]
        acc = np.mean(per["acc"]) if per.get("acc") else float("nan")
        ll = np.mean(per["logloss"]) if per.get("logloss") else float("nan")
        print(
            f"| {name} | "
            + " | ".join(f"{m * 100:.3f}%" for m in maes)
            + f" | {np.mean(maes) * 100:.3f}% | {acc:.3f} | {ll:.3f} |"
        )


def class_prior(close: np.ndarray, labels: LabelSpec) -> np.ndarray:
    """Training-period class frequencies: the no-skill direction forecaster."""
    from quantum_trader.features.labels import direction_labels

    y = direction_labels(close, labels)
    y = y[~np.isnan(y)].astype(int)
    return np.bincount(y, minlength=3) / len(y)


def add(
    rows: dict[str, dict[str, list[float]]],
    name: str,
    symbol: str,
    truth: np.ndarray,
    point: np.ndarray,
    probs: np.ndarray | None,
    labels: LabelSpec,
) -> None:
    from quantum_trader.features.labels import classify_returns

    per = rows.setdefault(name, {})
    per.setdefault(f"mae:{symbol}", []).append(float(np.abs(point - truth).mean()))
    y = classify_returns(truth, labels.dead_zone).astype(int)
    if probs is None:
        predicted = classify_returns(point, labels.dead_zone).astype(int)
        per.setdefault("acc", []).append(float((predicted == y).mean()))
        return
    per.setdefault("acc", []).append(float((probs.argmax(axis=1) == y).mean()))
    p = np.clip(probs[np.arange(len(y)), y], 1e-6, 1.0)
    per.setdefault("logloss", []).append(float(-np.log(p).mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 epoch, 1 symbol, 1 fold")
    args = parser.parse_args()
    labels = LabelSpec()
    epochs = 1 if args.quick else None
    print(
        f"# bench_forecasting ({'quick' if args.quick else 'full'}), {os.cpu_count()} CPUs, shared machine"
    )
    with tempfile.TemporaryDirectory(prefix="qt-bench-forecasting-") as tmp:
        out = Path(tmp)
        dirs = bench_training(labels, out, epochs)
        bench_serving(dirs, out)
        symbols = SYMBOLS[:1] if args.quick else SYMBOLS
        walk_forward(labels, out, symbols, 1 if args.quick else 3, epochs)


if __name__ == "__main__":
    main()
