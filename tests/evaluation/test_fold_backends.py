"""The system walk-forward's folds through a worker: the figures of the serial walk-forward,
told in the same order; and through either training backend the same figures: 8 folds of real
candles, each replayed through the engine with models trained on its own window, run by the
local process pool and by a local Ray (``app/training_backend.py``).

A fold is a function of its inputs (its own home, seeded training), so where it runs must not
change a figure; this is what makes Ray usable for evaluations and studies.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quantum_trader.app.market_data import open_market_data
from quantum_trader.app.system_evaluation import EngineFoldRunner
from quantum_trader.app.training_backend import fold_worker
from quantum_trader.clock import ThreadWorker
from quantum_trader.config import load_settings
from quantum_trader.domain.time import MS_PER_DAY, from_datetime
from quantum_trader.evaluation.fold_pool import ProcessPool
from quantum_trader.evaluation.folds import BASELINES, SYSTEM, Fold, Variant, plan_folds
from quantum_trader.evaluation.system import VariantResult, VariantRun, evaluate_variants
from tests.evaluation.test_system import FakeRunner

OVERRIDES = {"symbols": ["BTCUSDT"], "ensemble_models": ["xgb", "lgbm"]}
VARIANTS = (SYSTEM, BASELINES[0])  # the system, and buy and hold (0.2 s a fold)
FOLDS = 8


def _folds() -> list[Fold]:
    start = from_datetime(datetime(2023, 3, 1, tzinfo=UTC))
    return plan_folds(start=start, end=start + FOLDS * MS_PER_DAY, folds=FOLDS, train_days=30)


def _figures(result: VariantResult) -> list[dict[str, Any]]:
    return [p.to_dict() for p in (*result.folds, result.total)]


def _same(a: Any, b: Any) -> bool:
    """Equal, numbers to 1e-12 relative (NaN equal to NaN)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=0)
    return bool(a == b)


def _walk_forward(backend: str, folder: Path) -> tuple[dict[str, VariantResult], list[Any]]:
    settings = load_settings(training_backend=backend)
    worker = fold_worker(settings, f"folds-{backend}")
    told: list[Any] = []

    def tell(fold: Fold, variant: Variant, run: VariantRun | None) -> None:
        told.append((fold.index, variant.name, run is None))

    worker.start()
    try:
        results = evaluate_variants(
            _folds(),
            VARIANTS,
            EngineFoldRunner(OVERRIDES, folder),
            timeframe="1h",
            horizon=4,
            on_run=tell,
            worker=worker,
        )
    finally:
        worker.shutdown()
    return results, told


class FailingRunner(FakeRunner):
    def run(self, fold: Fold, variant: Variant) -> VariantRun:
        if fold.index == 1:
            raise ValueError(f"no candles in {fold.describe()}")
        return super().run(fold, variant)


def test_folds_through_a_worker_are_the_serial_figures_told_in_the_same_order() -> None:
    folds = plan_folds(start=100 * MS_PER_DAY, end=130 * MS_PER_DAY, folds=3, train_days=60)
    variants = (SYSTEM, *BASELINES)  # two of them have the system's settings: not replayed

    def run(worker: ThreadWorker | None) -> tuple[dict[str, VariantResult], list[Any]]:
        told: list[Any] = []
        results = evaluate_variants(
            folds,
            variants,
            FakeRunner({"system": 0.0002, "buy_and_hold": -0.0001}),
            timeframe="1h",
            horizon=4,
            on_run=lambda f, v, r: told.append((f.index, v.name, r is None)),
            worker=worker,
        )
        return results, told

    serial, serial_told = run(None)
    worker = ThreadWorker("folds")
    try:
        parallel, parallel_told = run(worker)
    finally:
        worker.shutdown()
    assert parallel_told == serial_told
    assert (0, "fixed_fractional", True) in serial_told
    for name, result in serial.items():
        assert parallel[name].same_as == result.same_as
        np.testing.assert_array_equal(parallel[name].returns, result.returns)
        for here, there in zip(_figures(result), _figures(parallel[name]), strict=True):
            assert all(_same(here[k], there[k]) for k in here), name


def test_a_fold_that_failed_in_the_worker_stops_the_evaluation() -> None:
    folds = plan_folds(start=100 * MS_PER_DAY, end=130 * MS_PER_DAY, folds=3, train_days=60)
    worker = ThreadWorker("folds")
    try:
        with pytest.raises(ValueError, match="no candles in fold 2"):
            evaluate_variants(
                folds, (SYSTEM,), FailingRunner({}), timeframe="1h", horizon=4, worker=worker
            )
    finally:
        worker.shutdown()


@pytest.mark.slow
def test_eight_folds_through_ray_give_the_local_pools_figures(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.setenv("QT_DATA_DIR", str(data_dir))
    clean_env.setenv("QT_LABEL_HORIZON", "4")
    # no retraining within a fold's day (the fold's models are trained before it either way):
    # a worker process less to spawn in each of the 16 fold replays
    clean_env.setenv("CONTINUOUS_LEARNING_ENABLED", "false")
    # the candle store filled before the folds start (as evaluate --system does): the folds'
    # processes only read it
    market = open_market_data(load_settings(**OVERRIDES), "1h", data_dir)
    market.series("BTCUSDT")
    assert isinstance(fold_worker(load_settings(), "folds"), ProcessPool)

    pool, pool_told = _walk_forward("process", tmp_path / "pool")
    ray, ray_told = _walk_forward("ray", tmp_path / "ray")

    assert pool_told == ray_told == [(i, v.name, False) for i in range(FOLDS) for v in VARIANTS]
    for name in (v.name for v in VARIANTS):
        assert len(pool[name].runs) == len(ray[name].runs) == FOLDS
        assert pool[name].times == ray[name].times
        # bit for bit: the same code on the same inputs, wherever it ran
        np.testing.assert_array_equal(ray[name].returns, pool[name].returns)
        for here, there in zip(_figures(pool[name]), _figures(ray[name]), strict=True):
            differ = {k: (here[k], there[k]) for k in here if not _same(here[k], there[k])}
            assert not differ, (name, differ)
    system = list(pool["system"].runs)
    # the figures compared are a trading system's: models were trained in every fold, and the
    # system traded in some of them
    assert all(run.training_windows for run in system)
    assert [run.training_windows for run in system] == [
        r.training_windows for r in ray["system"].runs
    ]
    assert any(run.trade_net for run in system)
