"""Drift detectors on streams with known change points: detection delay and false alarms.

Ours (``CusumDetector``, default config, two-sided) next to river's ``ADWIN()`` and
``PageHinkley()`` with their defaults, on the same seeded streams:

- synthetic N(0, 1) with a change at point 5,000 of 7,000: a 1-sigma mean shift, a variance
  shift (variance x2), and a gradual drift (mean rising linearly to 2 sigma over 1,000 points);
- a null stream (50,000 points, no change) for false alarms;
- real BTCUSDT-1h absolute log returns (windows of 7,000 hours at seeded offsets) with a
  1-sigma mean shift injected at point 5,000 (sigma of the window before the change).

Delay = points from the change to the first alarm at or after it (median over seeds; "missed"
when nothing fires in the 2,000 points after). False alarms are counted before the change
(and on the null stream) and given per 10,000 points. On the real series these "false" alarms
include the market's own regime changes. Run: ``PYTHONPATH=src python bench/bench_drift.py``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from river import drift

from quantum_trader.intelligence.detector import CusumConfig, CusumDetector

CHANGE, LENGTH, SEEDS = 5_000, 7_000, 20
NULL_LENGTH, NULL_SEEDS = 50_000, 10


class Ours:
    def __init__(self) -> None:
        self._d = CusumDetector(CusumConfig(direction="both"))

    def update(self, x: float) -> bool:
        return self._d.update(x) is not None


class River:
    def __init__(self, make: Callable[[], object]) -> None:
        self._d = make()

    def update(self, x: float) -> bool:
        self._d.update(x)  # type: ignore[attr-defined]
        return bool(self._d.drift_detected)  # type: ignore[attr-defined]


class ZScored:
    """river's detector fed z-scores: scale fitted on the first 200 points, like our warm-up.

    ADWIN's bound assumes values in [0, 1] and PageHinkley's threshold is in data units, so on
    a series of hourly |returns| (~0.005) both are nearly blind without rescaling.
    """

    def __init__(self, make: Callable[[], object], warmup: int = 200) -> None:
        self._inner = River(make)
        self._warmup = warmup
        self._buffer: list[float] = []
        self._mu = self._sd = 0.0

    def update(self, x: float) -> bool:
        if len(self._buffer) < self._warmup:
            self._buffer.append(x)
            if len(self._buffer) == self._warmup:
                self._mu = float(np.mean(self._buffer))
                self._sd = float(np.std(self._buffer)) or 1.0
                return any([self._inner.update((v - self._mu) / self._sd) for v in self._buffer])
            return False
        return self._inner.update((x - self._mu) / self._sd)


Detector = Ours | River | ZScored

DETECTORS: dict[str, Callable[[], Detector]] = {
    "ours: CUSUM (default)": Ours,
    "river ADWIN()": lambda: River(drift.ADWIN),
    "river PageHinkley()": lambda: River(drift.PageHinkley),
}
REAL_EXTRA: dict[str, Callable[[], Detector]] = {
    "river ADWIN() on z-scores": lambda: ZScored(drift.ADWIN),
    "river PageHinkley() on z-scores": lambda: ZScored(drift.PageHinkley),
}


def alarms(make: Callable[[], Detector], xs: np.ndarray) -> list[int]:
    det = make()
    return [i for i, x in enumerate(xs.tolist()) if det.update(x)]


def mean_shift(rng: np.random.Generator) -> np.ndarray:
    return np.r_[rng.normal(0, 1, CHANGE), rng.normal(1, 1, LENGTH - CHANGE)]


def variance_shift(rng: np.random.Generator) -> np.ndarray:
    return np.r_[rng.normal(0, 1, CHANGE), rng.normal(0, np.sqrt(2), LENGTH - CHANGE)]


def gradual(rng: np.random.Generator) -> np.ndarray:
    ramp = np.clip((np.arange(LENGTH) - CHANGE) / 1_000, 0, 1) * 2.0
    return rng.normal(0, 1, LENGTH) + ramp


def load_abs_returns(data_dir: Path) -> np.ndarray:
    """The one place this bench reads market data (swap for the candle store later)."""
    frame = pd.read_parquet(data_dir / "ohlcv" / "BTCUSDT-1h.parquet")
    return np.abs(np.diff(np.log(frame["close"].to_numpy())))


def real_stream(series: np.ndarray) -> Callable[[np.random.Generator], np.ndarray]:
    def make(rng: np.random.Generator) -> np.ndarray:
        start = int(rng.integers(0, len(series) - LENGTH))
        xs = series[start : start + LENGTH].copy()
        xs[CHANGE:] += xs[:CHANGE].std()
        return xs

    return make


def scenario(
    name: str,
    make_stream: Callable[[np.random.Generator], np.ndarray],
    detectors: dict[str, Callable[[], Detector]] = DETECTORS,
) -> list[str]:
    rows = []
    for det_name, make in detectors.items():
        delays: list[int] = []
        missed = false = 0
        for seed in range(SEEDS):
            hits = alarms(make, make_stream(np.random.default_rng(seed)))
            false += sum(h < CHANGE for h in hits)
            after = [h - CHANGE for h in hits if h >= CHANGE]
            if after:
                delays.append(after[0])
            else:
                missed += 1
        med = f"{np.median(delays):.0f}" if delays else "-"
        per_10k = false / (SEEDS * CHANGE) * 10_000
        rows.append(f"| {name} | {det_name} | {med} | {missed}/{SEEDS} | {per_10k:.2f} |")
    return rows


def null_rows() -> list[str]:
    rows = []
    for det_name, make in DETECTORS.items():
        total = sum(
            len(alarms(make, np.random.default_rng(100 + s).normal(0, 1, NULL_LENGTH)))
            for s in range(NULL_SEEDS)
        )
        per_10k = total / (NULL_SEEDS * NULL_LENGTH) * 10_000
        rows.append(f"| null N(0,1), no change | {det_name} | - | - | {per_10k:.2f} |")
    return rows


def main() -> None:
    started = time.perf_counter()
    print(f"changes at point {CHANGE} of {LENGTH}; {SEEDS} seeds; delay = median over seeds")
    print("| stream | detector | delay (points) | missed | false alarms / 10k |")
    print("|---|---|---|---|---|")
    for name, make in (
        ("1σ mean shift", mean_shift),
        ("variance ×2", variance_shift),
        ("gradual drift (0→2σ over 1,000)", gradual),
    ):
        for row in scenario(name, make):
            print(row, flush=True)
    for row in null_rows():
        print(row, flush=True)
    data_dir = Path(os.environ.get("QT_DATA_DIR", "../shared/data"))
    if (data_dir / "ohlcv").is_dir():
        series = load_abs_returns(data_dir)
        real = real_stream(series)
        for row in scenario("BTCUSDT-1h abs(log return) + 1σ", real, DETECTORS | REAL_EXTRA):
            print(row, flush=True)
    else:
        print(f"(no market data at {data_dir}: real-series rows skipped)")
    print(f"took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
