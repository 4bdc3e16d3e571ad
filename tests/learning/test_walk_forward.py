"""Walk-forward folds (purged, no overlap) and end-to-end runs on a small real slice."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.domain.errors import LookAheadError
from quantum_trader.features.dataset import Dataset, make_dataset
from quantum_trader.features.series import CandleSeries
from quantum_trader.learning.fold_models import FoldPrediction
from quantum_trader.learning.walk_forward import (
    FoldRecord,
    WalkForwardConfig,
    check_fold,
    evaluate_symbol,
    make_folds,
)


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
    candles = CandleStore(data_dir).series("XRPUSDT", "1h")
    btc = CandleStore(data_dir).series("BTCUSDT", "1h")
    data = make_dataset(candles.slice(len(candles) - 1400, len(candles)), None, btc)
    config = WalkForwardConfig(
        train_rows=800,
        test_rows=200,
        step_rows=200,
        max_folds=2,
        models=("xgb", "lgbm"),
        params=(("num_boost_round", 20),),
    )
    rows = {r.model: r for r in evaluate_symbol(data, config)}
    assert set(rows) == {"xgb", "lgbm", "majority", "persistence", "prior"}
    for r in rows.values():
        assert r.rows == 400 and 0.0 <= r.accuracy <= 1.0 and 0.0 <= r.macro_f1 <= 1.0
    assert rows["xgb"].kind == "model" and rows["prior"].kind == "baseline"
    assert math.isnan(rows["majority"].log_loss) and np.isfinite(rows["prior"].log_loss)
    assert rows["lgbm"].log_loss > 0


def _xrp_slice(data_dir: Path) -> tuple[CandleSeries, Dataset]:
    full = CandleStore(data_dir).series("XRPUSDT", "1h")
    candles = full.slice(len(full) - 1400, len(full))
    return candles, make_dataset(candles, None, CandleStore(data_dir).series("BTCUSDT", "1h"))


def test_forecasters_are_scored_on_the_tabular_rows_and_never_fit_a_test_candle(
    data_dir: Path,
) -> None:
    candles, data = _xrp_slice(data_dir)
    config = WalkForwardConfig(
        train_rows=800,
        test_rows=200,
        step_rows=200,
        max_folds=2,
        params=(("num_boost_round", 20),),
        forecast_epochs=1,
    )
    records: list[FoldRecord] = []
    rows = {
        r.model: r for r in evaluate_symbol(data, config, candles=candles, on_fold=records.append)
    }
    assert {"xgb", "lgbm", "nhits", "patchtst"} <= set(rows)
    assert {r.rows for r in rows.values()} == {400}
    for name in ("nhits", "patchtst"):
        assert rows[name].kind == "model" and 0 < rows[name].log_loss < 5
    labelled = int((~np.isnan(data.y)).sum())
    for fold in (0, 1):
        mine = {r.model: r.prediction for r in records if r.fold == fold}
        assert set(mine) == {"xgb", "lgbm", "nhits", "patchtst"}
        # (a) the same test rows: the same 200 open times, the newest labelled ones last
        expected = data.open_time[labelled - 400 + 200 * fold : labelled - 200 + 200 * fold]
        for prediction in mine.values():
            np.testing.assert_array_equal(prediction.scored_open_time, expected)
            assert prediction.proba.shape == (200, 3)
            np.testing.assert_allclose(prediction.proba.sum(axis=1), 1.0, atol=1e-9)
        # (b) the forecasters' training series ends where the tabular labels end: the candle
        # just before the first test row, read from the saved member's own lineage
        before_test = int(candles.open_time[np.searchsorted(candles.open_time, expected[0]) - 1])
        for name in ("nhits", "patchtst"):
            first, last = mine[name].trained_on
            assert last == before_test == mine["xgb"].trained_on[1] < expected[0]
            assert first < mine["xgb"].trained_on[0]  # one input window of history before it
        assert not np.allclose(mine["nhits"].proba, mine["patchtst"].proba)


def test_a_fold_result_that_saw_a_test_candle_or_other_rows_is_refused(data_dir: Path) -> None:
    _, data = _xrp_slice(data_dir)
    test = data.rows(1000, 1010)
    proba = np.full((10, 3), 1 / 3)
    leaky = FoldPrediction(proba, test.open_time, (0, int(test.open_time[0])))
    with pytest.raises(LookAheadError, match="test starts at"):
        check_fold("XRPUSDT", "nhits", test, leaky)
    shifted = FoldPrediction(proba, test.open_time + 3_600_000, (0, int(test.open_time[0]) - 1))
    with pytest.raises(ValueError, match="scored open times"):
        check_fold("XRPUSDT", "nhits", test, shifted)
    check_fold("XRPUSDT", "nhits", test, FoldPrediction(proba, test.open_time, (0, 1)))


def test_forecasters_need_the_candle_series(data_dir: Path) -> None:
    _, data = _xrp_slice(data_dir)
    config = WalkForwardConfig(train_rows=800, test_rows=200, max_folds=1, models=("nhits",))
    with pytest.raises(ValueError, match="candle series"):
        evaluate_symbol(data, config)
