"""The trial ledger's record, the configuration hash, the deflated Sharpe ratio's inputs and the
per-candle Sharpe ratio."""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.time import MS_PER_DAY
from quantum_trader.evaluation.ledger import (
    KINDS,
    Trial,
    annualised,
    config_hash,
    dsr_inputs,
    per_candle_sharpe,
)


def trial(**changes: Any) -> Trial:
    base = Trial(
        kind="backtest",
        name="sma_cross",
        config_hash=config_hash({"fast": 10, "slow": 30}),
        code_version="abc1234",
        symbols=("BTCUSDT", "ETHUSDT"),
        timeframe="1h",
        data_start=0,
        data_end=30 * MS_PER_DAY,
        seed=7,
        metrics={"total_return": 0.05, "trade_count": 12, "sortino": None},
        sharpe=0.02,
        periods=720,
        recorded_at=40 * MS_PER_DAY,
    )
    return replace(base, **changes)


# --- Trial -----------------------------------------------------------------------------------
def test_a_valid_trial_keeps_its_values() -> None:
    t = trial(symbols=["BTCUSDT"], metrics={"won": True, "x": 1.5}, sharpe=1)
    assert t.symbols == ("BTCUSDT",)  # a list is taken as the tuple it stands for
    assert dict(t.metrics) == {"won": 1, "x": 1.5}
    assert isinstance(t.sharpe, float) and t.sharpe == 1.0
    assert set(KINDS) == {"evaluate", "backtest", "validation"}
    assert trial(name="baseline:buy_and_hold").is_baseline and not t.is_baseline


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"kind": "paper"}, "kind", "evaluate, backtest, validation"),
        ({"name": ""}, "name", "must not be empty"),
        ({"code_version": ""}, "code_version", "must not be empty"),
        ({"config_hash": "ABC"}, "config_hash", "64 lowercase hex"),
        ({"symbols": ()}, "symbols", "at least one symbol"),
        ({"symbols": "BTCUSDT"}, "symbols", "tuple of symbols"),
        ({"timeframe": "7m"}, "timeframe", "must be one of"),
        ({"data_start": 5, "data_end": 5}, "data_end", "after data_start=5"),
        ({"data_start": -1}, "data_start", ">= 0"),
        ({"seed": -1}, "seed", "within [0,"),
        ({"seed": 2**63}, "seed", "within [0,"),
        ({"seed": 1.0}, "seed", "must be an integer"),
        ({"periods": 1}, "periods", "at least 2 returns"),
        ({"sharpe": math.nan}, "sharpe", "must be finite"),
        ({"metrics": {"profit_factor": math.inf}}, "metrics['profit_factor']", "finite"),
        ({"metrics": {"label": "x"}}, "metrics['label']", "number or None"),
        ({"metrics": {"": 1.0}}, "metrics", "non-empty name"),
        ({"recorded_at": -5}, "recorded_at", ">= 0"),
        ({"parent": ""}, "parent", "must not be empty"),
    ],
)
def test_a_bad_trial_is_refused_naming_the_field(
    changes: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(DomainValidationError) as caught:
        trial(**changes)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_a_trial_without_sharpe_may_have_few_periods() -> None:
    assert trial(sharpe=None, periods=0).periods == 0


def test_a_trials_metrics_cannot_be_changed_afterwards() -> None:
    figures = {"total_return": 0.05}
    t = trial(metrics=figures)
    figures["total_return"] = 9.0  # the caller's dict is copied
    assert t.metrics["total_return"] == 0.05
    with pytest.raises(TypeError):
        t.metrics["total_return"] = 1.0  # type: ignore[index]


# --- config_hash -----------------------------------------------------------------------------
def test_config_hash_is_sha256_hex_and_ignores_key_order_at_every_level() -> None:
    one = {"strategy": "sma", "params": {"fast": 10, "slow": 30}, "costs": [0.0002, 0.0005]}
    two = {"costs": (0.0002, 0.0005), "params": {"slow": 30, "fast": 10}, "strategy": "sma"}
    assert config_hash(one) == config_hash(two)
    assert len(config_hash(one)) == 64 and int(config_hash(one), 16) >= 0


def test_config_hash_changes_with_any_value() -> None:
    base = {"fast": 10, "slow": 30, "name": "sma"}
    hashes = {
        config_hash(base),
        config_hash({**base, "fast": 11}),
        config_hash({**base, "fast": 10.0}),  # 10 and 10.0 are different values
        config_hash({**base, "name": "SMA"}),
        config_hash({**base, "extra": None}),
    }
    assert len(hashes) == 5


def test_config_hash_is_stable_across_processes() -> None:
    """The hash is stored and compared later: it must not depend on the interpreter run (str
    hashing is randomised per process; canonical JSON is not). Pinned against a hash computed
    independently from the JSON text with hashlib."""
    import hashlib

    expected = hashlib.sha256(b'{"a":[1,2.5,null,true],"b":{"c":"\xc3\xa9"}}').hexdigest()
    assert config_hash({"b": {"c": "é"}, "a": [1, 2.5, None, True]}) == expected


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"path": object()}, "config['path']"),
        ({"x": {1: "a"}}, "key 1 is not a string"),
        ({"x": [math.nan]}, "config['x'][0]=nan"),
    ],
)
def test_config_hash_refuses_what_has_no_canonical_json(config: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        config_hash(config)


# --- dsr_inputs ------------------------------------------------------------------------------
def test_dsr_inputs_counts_configurations_once_and_leaves_baselines_out() -> None:
    a, b, c = (config_hash({"fast": f}) for f in (5, 10, 20))
    trials = [
        trial(config_hash=a, sharpe=0.01),
        trial(config_hash=a, sharpe=0.03, seed=8),  # the same configuration again
        trial(config_hash=b, sharpe=-0.02),
        trial(config_hash=c, sharpe=None, periods=1),  # no Sharpe ratio: says nothing of V
        trial(config_hash=c, name="baseline:buy_and_hold", sharpe=0.5),
        trial(config_hash=config_hash({"random": 1}), name="baseline:random", sharpe=-0.4),
    ]
    n, v = dsr_inputs(trials)
    assert n == 2
    assert v == pytest.approx(statistics.variance([0.02, -0.02]))


def test_dsr_inputs_with_fewer_than_two_configurations_has_no_variance() -> None:
    assert dsr_inputs([]) == (0, 0.0)
    assert dsr_inputs([trial(sharpe=0.1), trial(sharpe=0.3)]) == (1, 0.0)
    assert dsr_inputs([trial(name="baseline:neutral")]) == (0, 0.0)


def test_dsr_variance_is_the_sample_variance_of_many_configurations() -> None:
    rng = np.random.default_rng(3)
    sharpes = rng.normal(0.0, 0.05, size=40)
    trials = [
        trial(config_hash=config_hash({"i": i}), sharpe=float(s)) for i, s in enumerate(sharpes)
    ]
    n, v = dsr_inputs(trials)
    assert n == 40
    assert v == pytest.approx(float(np.var(sharpes, ddof=1)))


# --- per-candle Sharpe -----------------------------------------------------------------------
def test_per_candle_sharpe_is_mean_over_sample_std_of_candle_returns() -> None:
    rng = np.random.default_rng(11)
    returns = rng.normal(0.0005, 0.01, size=500)
    equity = 1_000.0 * np.cumprod(np.concatenate([[1.0], 1.0 + returns]))
    got = per_candle_sharpe(equity.tolist())
    assert got == pytest.approx(returns.mean() / returns.std(ddof=1), rel=1e-9)


def test_per_candle_sharpe_is_none_without_two_returns_or_variation() -> None:
    assert per_candle_sharpe([]) is None
    assert per_candle_sharpe([100.0, 101.0]) is None
    assert per_candle_sharpe([100.0, 100.0, 100.0, 100.0]) is None
    # constant growth: every return equal, no variation
    assert per_candle_sharpe([100.0, 110.0, 121.0]) is None


def test_per_candle_sharpe_stops_at_a_wiped_out_account() -> None:
    got = per_candle_sharpe([100.0, 50.0, 0.0, 0.0, 0.0])
    expected = np.array([-0.5, -1.0])
    assert got == pytest.approx(expected.mean() / expected.std(ddof=1))


def test_per_candle_sharpe_refuses_non_finite_equity() -> None:
    with pytest.raises(ValueError, match="finite"):
        per_candle_sharpe([100.0, math.nan, 101.0])


def test_annualised_scales_by_the_square_root_of_candles_per_year() -> None:
    assert annualised(0.01, "1h") == pytest.approx(0.01 * math.sqrt(365 * 24))
    assert annualised(0.01, "4h") == pytest.approx(0.01 * math.sqrt(365 * 6))
    with pytest.raises(ValueError, match="unknown timeframe"):
        annualised(0.01, "7m")
