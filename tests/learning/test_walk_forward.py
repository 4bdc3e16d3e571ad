"""Walk-forward folds (purged, no overlap) and an end-to-end run on a small real slice."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from quantum_trader.adapters.market_parquet import load_candles
from quantum_trader.features.dataset import make_dataset
from quantum_trader.learning.walk_forward import WalkForwardConfig, evaluate_symbol, make_folds


def test_folds_are_purged_and_ordered() -> None:
    config = WalkForwardConfig(train_rows=100, test_rows=20, step_rows=20, max_folds=5)
    folds = make_folds(200, 4, config)
    assert len(folds) == 4  # the fifth would need rows before 0
    for fold in folds:
        assert fold.train[1] + 4 == fold.test[0]  # labels of the last train row end at test start
        assert fold.train[1] - fold.train[0] == 100 and fold.test[1] - fold.test[0] == 20
    assert folds[-1].test[1] == 200
    assert [f.test[0] for f in folds] == sorted(f.test[0] for f in folds)


def test_evaluate_symbol_scores_models_and_baselines(data_dir: Path) -> None:
    candles = load_candles(data_dir, "XRPUSDT", "1h")
    btc = load_candles(data_dir, "BTCUSDT", "1h")
    data = make_dataset(candles.slice(len(candles) - 1400, len(candles)), None, btc)
    config = WalkForwardConfig(
        train_rows=800, test_rows=200, step_rows=200, max_folds=2, params=(("num_boost_round", 20),)
    )
    rows = {r.model: r for r in evaluate_symbol(data, config)}
    assert set(rows) == {"xgb", "lgbm", "majority", "persistence", "prior"}
    for r in rows.values():
        assert r.rows == 400 and 0.0 <= r.accuracy <= 1.0 and 0.0 <= r.macro_f1 <= 1.0
    assert rows["xgb"].kind == "model" and rows["prior"].kind == "baseline"
    assert math.isnan(rows["majority"].log_loss) and np.isfinite(rows["prior"].log_loss)
    assert rows["lgbm"].log_loss > 0
