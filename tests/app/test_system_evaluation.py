"""The system walk-forward through the engine, on a small slice of real data: each fold's models
are fitted only on rows whose label closes before the fold (minus the embargo), every variant
replays the same candles, and buy and hold is what the prices say."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.app.cli.evaluate import app as evaluate_app
from quantum_trader.app.system_evaluation import EngineFoldRunner
from quantum_trader.config import load_settings
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR, from_datetime
from quantum_trader.evaluation.folds import BASELINES, SYSTEM, Fold, Variant, plan_folds
from quantum_trader.evaluation.system import VariantRun, evaluate_variants

HORIZON = 4  # QT_LABEL_HORIZON below
EMBARGO_CANDLES = 6


@pytest.fixture
def runner(clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path) -> EngineFoldRunner:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.setenv("QT_DATA_DIR", str(data_dir))
    clean_env.setenv("QT_LABEL_HORIZON", str(HORIZON))
    overrides = {"symbols": ["BTCUSDT"], "ensemble_models": ["xgb", "lgbm"]}
    return EngineFoldRunner(overrides, tmp_path / "eval", embargo_candles=EMBARGO_CANDLES)


def _start() -> int:
    return from_datetime(datetime(2023, 3, 1, tzinfo=UTC))


@pytest.mark.slow
def test_no_fold_trains_on_a_label_that_closes_inside_its_fold(runner: EngineFoldRunner) -> None:
    folds = plan_folds(
        start=_start(),
        end=_start() + 4 * MS_PER_DAY,
        folds=2,
        train_days=60,
        embargo_ms=EMBARGO_CANDLES * MS_PER_HOUR,
    )
    seen: dict[tuple[int, str], VariantRun] = {}

    def keep(fold: Fold, variant: Variant, run: VariantRun | None) -> None:
        if run is not None:
            seen[(fold.index, variant.name)] = run

    variants = (SYSTEM, BASELINES[0], BASELINES[1])  # system, buy and hold, neutral
    results = evaluate_variants(
        folds, variants, runner, timeframe="1h", horizon=HORIZON, on_run=keep
    )
    for fold in folds:
        run = seen[(fold.index, "system")]
        windows = run.training_windows
        assert windows, "the fold trained no model"
        for model, window in windows.items():
            assert window is not None, model
            first, last = window
            label_known = last + (HORIZON + 1) * MS_PER_HOUR
            if model in run.retrained_at:  # continuous learning, during the fold
                assert fold.start < run.retrained_at[model]
                assert label_known <= run.retrained_at[model], (model, fold.describe())
                continue
            # the last fitted row's label closed at or before the embargo began …
            assert label_known <= fold.train_end, (model, fold.describe())
            # … and not much earlier: the purge drops the horizon, not days of data
            assert fold.train_end - label_known < MS_PER_DAY, (model, fold.describe())
            assert first >= fold.train_start
    # every variant replayed the same candles; Neutral never traded; buy and hold follows BTC
    assert results["neutral"].times == results["system"].times == results["buy_and_hold"].times
    assert results["neutral"].total.trades == 0
    assert np.allclose(results["neutral"].returns, 0.0)
    assert results["buy_and_hold"].total.exposure > 0.9


@pytest.mark.slow
def test_evaluate_system_prints_writes_and_records_every_variant(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.setenv("COLUMNS", "220")
    args = ["--system", "--symbols", "BTCUSDT", "--models", "xgb,lgbm", "--start", "2023-03-01"]
    args += ["--end", "2023-03-05", "--folds", "2", "--train-days", "45"]
    args += ["--data-dir", str(data_dir)]
    result = CliRunner().invoke(evaluate_app, args, terminal_width=220)
    assert result.exit_code == 0, result.output
    for name in ("system", *(b.name for b in BASELINES)):
        assert name in result.output
    (folder,) = (tmp_path / "home" / "evaluations").iterdir()
    payload = json.loads((folder / "evaluation.json").read_text())
    assert list(payload["variants"]) == ["system", *(b.name for b in BASELINES)]
    assert set(payload["system_minus_baseline_sharpe"]) == {b.name for b in BASELINES}
    assert len(payload["folds"]) == 2
    assert payload["variants"]["neutral"]["total"]["trades"] == 0
    report = (folder / "report.html").read_text()
    assert "<title>evaluate report — system walk-forward" in report
    for shown in ("buy_and_hold", "Monthly returns", "Per-strategy attribution", "underwater"):
        assert shown in report
    trials = SqlTrialLedger(open_database(load_settings().effective_database_url)).trials()
    names = sorted(t.name for t in trials if t.kind == "evaluate")
    assert names == sorted(["system", *(f"baseline:{b.name}" for b in BASELINES)])
