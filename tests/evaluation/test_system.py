"""The system walk-forward's bookkeeping, with a runner whose replays are known in advance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from quantum_trader.domain.errors import ConfigError, DataError, LookAheadError
from quantum_trader.domain.time import MS_PER_DAY, MS_PER_HOUR
from quantum_trader.evaluation.folds import BASELINES, SYSTEM, Fold, Variant, plan_folds
from quantum_trader.evaluation.summary import readings, to_payload
from quantum_trader.evaluation.system import VariantRun, compare, evaluate_variants

H = MS_PER_HOUR


class FakeRunner:
    """Each variant's replay of a fold: a fixed per-candle return, seeded noise, one trade."""

    def __init__(self, drift: Mapping[str, float], *, window_end_lag: int = 5) -> None:
        self.drift = drift
        self.calls: list[tuple[int, str]] = []
        self.window_end_lag = window_end_lag  # hours between the last trained row and train_end

    def config_of(self, variant: Variant) -> Mapping[str, Any]:
        # fixed_fractional is the system's own sizer and the rule selector its own selector:
        # the same settings as the system
        defaults = {"sizer": "fixed_fractional", "selector": "regime_rules"}
        overrides = {k: v for k, v in variant.overrides.items() if defaults.get(k) != v}
        return {"trader": variant.trader, **overrides}

    def run(self, fold: Fold, variant: Variant) -> VariantRun:
        self.calls.append((fold.index, variant.name))
        n = (fold.end - fold.start) // H
        rng = np.random.default_rng(fold.index)
        returns = self.drift.get(variant.name, 0.0) + 0.001 * rng.standard_normal(n)
        if variant.name == "neutral":
            returns = np.zeros(n)
        equity = 10_000.0 * np.concatenate(([1.0], np.cumprod(1 + returns)))
        times = tuple(fold.start + i * H for i in range(n + 1))
        last = fold.train_end - self.window_end_lag * H
        return VariantRun(
            times=times,
            equity=tuple(equity.tolist()),
            trade_net=(equity[-1] - equity[0] - 2.0,),
            trade_gross=(equity[-1] - equity[0],),
            trade_strategies=("TrendFollowing",),
            fees=2.0,
            funding=0.0,
            traded_notional=20_000.0,
            exposure=1.0,
            training_windows={"xgb/BTCUSDT@1": (fold.train_start, last)},
        )


FOLDS = plan_folds(start=100 * MS_PER_DAY, end=130 * MS_PER_DAY, folds=3, train_days=60)


def test_every_variant_replays_every_fold_once_and_equal_settings_are_not_replayed() -> None:
    runner = FakeRunner({"system": 0.0002})
    results = evaluate_variants(FOLDS, (SYSTEM, *BASELINES), runner, timeframe="1h", horizon=4)
    assert results["fixed_fractional"].same_as == "system"
    assert (0, "fixed_fractional") not in runner.calls
    assert results["rule_selector"].same_as == "system"
    # system + baselines - 2 repeats
    assert len(runner.calls) == len(FOLDS) * (len(BASELINES) - 1)
    assert results["fixed_fractional"].total == results["system"].total


def test_the_total_chains_the_folds_returns() -> None:
    results = evaluate_variants(
        FOLDS, (SYSTEM,), FakeRunner({"system": 0.0002}), timeframe="1h", horizon=4
    )
    system = results["system"]
    fold_growth = np.prod([1 + p.net_return for p in system.folds])
    assert system.total.net_return == pytest.approx(fold_growth - 1, rel=1e-12)
    assert len(system.returns) == sum((f.end - f.start) // H for f in FOLDS)
    assert system.total.trades == len(FOLDS)


def test_a_model_trained_on_a_label_that_reaches_into_its_fold_is_refused() -> None:
    # the label of the row opening at t is known at t + 5 h (horizon 4): 5 h lag is the limit
    evaluate_variants(FOLDS, (SYSTEM,), FakeRunner({}, window_end_lag=5), timeframe="1h", horizon=4)
    with pytest.raises(LookAheadError, match="label is known"):
        evaluate_variants(
            FOLDS, (SYSTEM,), FakeRunner({}, window_end_lag=4), timeframe="1h", horizon=4
        )


def test_the_system_against_neutral_and_buy_and_hold() -> None:
    variants = (SYSTEM, *BASELINES[:2])  # buy and hold, neutral
    runner = FakeRunner({"system": 0.0005, "buy_and_hold": -0.0005})
    results = evaluate_variants(FOLDS, variants, runner, timeframe="1h", horizon=4)
    evaluation = compare(results, timeframe="1h", trials=1, trial_sharpe_variance=0.0, folds=FOLDS)
    better = evaluation.comparisons["buy_and_hold"]
    assert better.low > 0  # a clearly better drift is outside the bootstrap noise
    seen = readings(evaluation)
    assert seen["not_below_neutral"] and seen["cost_share_at_most_a_third"]
    payload = to_payload(evaluation, symbols=["BTCUSDT"])
    assert payload["variants"]["neutral"]["total"]["trades"] == len(FOLDS)
    assert 0.5 < payload["psr"] <= 1.0


def test_baselines_that_replayed_other_candles_are_refused() -> None:
    class Shifted(FakeRunner):
        def run(self, fold: Fold, variant: Variant) -> VariantRun:
            run = super().run(fold, variant)
            if variant.name == "neutral":
                return replace(run, times=(*run.times[1:], fold.end))
            return run

    variants = (SYSTEM, BASELINES[1])
    results = evaluate_variants(FOLDS, variants, Shifted({}), timeframe="1h", horizon=4)
    with pytest.raises(DataError, match="other candles"):
        compare(results, timeframe="1h", trials=1, trial_sharpe_variance=0.0)


@pytest.mark.parametrize(("start", "end"), [(10, 5), (5, 5)])
def test_folds_whose_start_is_not_before_their_end_are_refused_saying_so(
    start: int, end: int
) -> None:
    """``evaluate --system --start 2030-01-01`` said "holds -2025 whole day(s)"."""
    with pytest.raises(ConfigError, match=r"the folds' start .* is not before their end"):
        plan_folds(start=start * MS_PER_DAY, end=end * MS_PER_DAY, folds=2, train_days=5)
