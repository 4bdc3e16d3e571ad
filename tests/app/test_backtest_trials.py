"""A finished session as a ``backtest`` trial: its data window, per-candle Sharpe ratio,
figures and code version; and which settings make up the AI system's configuration."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.app.backtest_trials import backtest_trial, settings_config
from quantum_trader.app.code_version import code_version
from quantum_trader.backtester.strategies import SmaCross, SmaCrossConfig
from quantum_trader.config.settings import load_settings
from quantum_trader.data.frames import ohlcv_from_rows
from quantum_trader.engine.metrics import compute_metrics
from quantum_trader.engine.session import SessionConfig, SessionResult, TradingSession
from quantum_trader.evaluation.ledger import config_hash

HOUR = 3_600_000
START = 1_700_000_000_000 - 1_700_000_000_000 % HOUR


def _frame(seed: int, n: int = 300) -> object:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, size=n)))
    rows = []
    for i, c in enumerate(close):
        o = close[i - 1] if i else c
        rows.append([START + i * HOUR, o, max(o, c) * 1.002, min(o, c) * 0.998, c, 10.0])
    return ohlcv_from_rows(rows, "test candles")


def test_a_finished_session_becomes_a_trial_of_its_window_and_curve() -> None:
    frames = {"BTCUSDT": _frame(1), "ETHUSDT": _frame(2)}
    config = SessionConfig("1h", initial_balance=10_000.0)
    result = TradingSession(config, frames, SmaCross(SmaCrossConfig(5, 20, 0.5))).run()
    assert len(result.trades) > 3  # it traded: the curve moves

    trial = backtest_trial(
        result,
        name="sma_cross",
        config={"fast": 5, "slow": 20},
        symbols=["ETHUSDT", "BTCUSDT"],
        timeframe="1h",
        seed=4,
        parent=result.run_id,
        recorded_at=START + 10**9,
    )
    assert trial is not None
    assert (trial.kind, trial.name, trial.parent) == ("backtest", "sma_cross", result.run_id)
    assert trial.symbols == ("BTCUSDT", "ETHUSDT") and trial.seed == 4
    assert trial.config_hash == config_hash({"slow": 20, "fast": 5})
    assert trial.code_version == code_version()
    # from the first candle's open to the last one's close
    assert (trial.data_start, trial.data_end) == (START, START + 300 * HOUR)
    equity = np.asarray(result.equity_values)
    returns = equity[1:] / equity[:-1] - 1.0
    assert trial.periods == len(returns) == 299
    assert trial.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1), rel=1e-12)
    assert dict(trial.metrics) == result.metrics.to_dict()
    assert trial.recorded_at == START + 10**9


def test_a_session_without_candles_is_no_trial() -> None:
    metrics = compute_metrics(
        [], [], [], initial_equity=1.0, fees_paid=0.0, funding_paid=0.0,
        exposed_points=0, liquidations=0,
    )  # fmt: skip
    result = SessionResult("r", metrics, [], [], [], "", "", 0, 0, 0.0)
    made = backtest_trial(
        result, name="sma_cross", config={}, symbols=["BTCUSDT"], timeframe="1h", seed=0
    )
    assert made is None


def test_the_ai_configuration_is_what_decides_trades(clean_env: pytest.MonkeyPatch) -> None:
    base = config_hash(settings_config(load_settings()))
    same = [
        {"home": "/elsewhere", "database_url": "sqlite:////tmp/other.sqlite"},
        {"symbols": ["SOLUSDT"], "timeframe": "4h", "seed": 99, "replay_days": 10},
        {"log_level": "DEBUG", "offline": True, "replay_batch_votes": False},
    ]
    for overrides in same:
        assert config_hash(settings_config(load_settings(**overrides))) == base, overrides
    different = [
        {"maker_fee": 0.0003},
        {"ensemble_models": ["xgb", "lgbm"]},
        {"min_consensus": 1},
        {"train_days": 365},
        {"entry_cost_gate": False},
    ]
    hashes = {config_hash(settings_config(load_settings(**o))) for o in different}
    assert base not in hashes and len(hashes) == len(different)
    assert settings_config(load_settings())["strategy"] == "ai"
