"""Same inputs and seed → identical trades, ledger and event-log hash; and a backwards candle
stream is an error naming the times."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.backtester.strategies import SmaCross, SmaCrossConfig
from quantum_trader.domain.errors import DataError
from quantum_trader.engine.session import SessionConfig, SessionResult, TradingSession
from quantum_trader.execution.simulated.exchange import ExchangeConfig


def _run(frames: dict[str, pd.DataFrame], seed: int) -> SessionResult:
    config = SessionConfig(
        "1h",
        initial_balance=50_000.0,
        exchange=ExchangeConfig(slippage_bps=1.0, random_slippage_bps=5.0, seed=seed),
    )
    sma = SmaCross(SmaCrossConfig(8, 21, quantities=(("BTCUSDT", 0.05), ("ETHUSDT", 0.5))))
    return TradingSession(config, frames, sma).run()


@pytest.mark.data
def test_same_seed_same_trades_and_event_log_hash(data_dir: Path) -> None:
    frames = {s: CandleStore(data_dir).load(s, "1h").iloc[-1500:] for s in ("BTCUSDT", "ETHUSDT")}
    a, b, other = _run(frames, 7), _run(frames, 7), _run(frames, 8)
    assert len(a.trades) > 30
    assert a.trades == b.trades
    assert a.event_log_hash == b.event_log_hash and a.ledger_digest == b.ledger_digest
    assert a.metrics == b.metrics
    assert other.event_log_hash != a.event_log_hash  # the seed drives the random slippage
    symbols = {t.symbol for t in a.trades}
    assert symbols == {"BTCUSDT", "ETHUSDT"}


def test_backwards_candle_stream_is_an_error_naming_the_times() -> None:
    frame = pd.DataFrame(
        {
            "open_time": [7_200_000, 3_600_000],
            "open": [1.0, 1.0],
            "high": [1.0, 1.0],
            "low": [1.0, 1.0],
            "close": [1.0, 1.0],
            "volume": [1.0, 1.0],
        }
    )
    with pytest.raises(DataError, match=r"1970-01-01T02:00:00Z then 1970-01-01T01:00:00Z"):
        TradingSession(SessionConfig("1h"), {"BTCUSDT": frame}, SmaCross())
