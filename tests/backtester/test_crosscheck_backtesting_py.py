"""Cross-check: the SMA crossover through our engine equals backtesting.py on real BTCUSDT-1h.

Aligned semantics: market orders fill at the next candle's open (backtesting.py
``trade_on_close=False``), one fixed size, taker commission on both sides at the fill price
(backtesting.py ``commission``), no spread/slippage, funding and liquidation switched off, one
position at a time (a reversal closes the open trade and opens the opposite one at the same open).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.backtester.strategies import SmaCross, SmaCrossConfig
from quantum_trader.engine.session import SessionConfig, TradingSession
from quantum_trader.execution.simulated.exchange import ExchangeConfig
from quantum_trader.execution.simulated.fees import FeeSchedule
from quantum_trader.execution.simulated.funding import FundingConfig

FAST, SLOW, SIZE, CASH, COMMISSION = 10, 30, 1.0, 1_000_000.0, 0.0005


def _reference(frame: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    def sma(values: np.ndarray, n: int) -> pd.Series:
        return pd.Series(values).rolling(n).mean()

    class Cross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy(size=SIZE)
            elif crossover(self.slow, self.fast):
                self.position.close()
                self.sell(size=SIZE)

    data = pd.DataFrame(
        {
            "Open": frame["open"].to_numpy(),
            "High": frame["high"].to_numpy(),
            "Low": frame["low"].to_numpy(),
            "Close": frame["close"].to_numpy(),
            "Volume": frame["volume"].to_numpy(),
        },
        index=pd.to_datetime(frame["open_time"], unit="ms"),
    )
    bt = Backtest(
        data,
        Cross,
        cash=CASH,
        commission=COMMISSION,
        spread=0.0,
        margin=1.0,
        trade_on_close=False,
        hedging=False,
        exclusive_orders=False,
        finalize_trades=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt.run()
    return stats["_trades"], float(stats["Equity Final [$]"])


@pytest.mark.data
def test_sma_cross_matches_backtesting_py(data_dir: Path) -> None:
    frame = CandleStore(data_dir).load("BTCUSDT", "1h").iloc[5000:8000].reset_index(drop=True)
    ref_trades, ref_equity = _reference(frame)

    config = SessionConfig(
        "1h",
        initial_balance=CASH,
        exchange=ExchangeConfig(
            fees=FeeSchedule(maker=COMMISSION, taker=COMMISSION), liquidation=False
        ),
        funding=FundingConfig(enabled=False),
    )
    result = TradingSession(
        config, {"BTCUSDT": frame}, SmaCross(SmaCrossConfig(FAST, SLOW, SIZE))
    ).run()

    assert len(ref_trades) > 50
    assert len(result.trades) == len(ref_trades)
    for ours, (_, ref) in zip(result.trades, ref_trades.iterrows(), strict=True):
        assert ours.entry_time == int(ref["EntryTime"].value // 1_000_000)
        assert ours.exit_time == int(ref["ExitTime"].value // 1_000_000)
        assert ours.entry_price == pytest.approx(ref["EntryPrice"], rel=1e-12)
        assert ours.exit_price == pytest.approx(ref["ExitPrice"], rel=1e-12)
        assert (1 if ours.side.value == "BUY" else -1) * ours.quantity == ref["Size"]
        assert ours.pnl - ours.fees == pytest.approx(ref["PnL"], abs=1e-6)
    assert result.metrics.final_equity == pytest.approx(ref_equity, abs=1e-6)
