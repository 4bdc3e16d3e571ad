"""Acceptance: a position held across funding times pays or receives exactly
rate × notional at each one, with the real BTCUSDT funding rates."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.domain.time import from_datetime
from quantum_trader.engine.session import SessionConfig, TradingSession
from quantum_trader.execution.simulated.funding import FundingConfig, round_funding_time
from quantum_trader.portfolio.ledger import LedgerKind
from tests.backtester.strategies_for_tests import BuyAndHold


@pytest.mark.data
@pytest.mark.parametrize("quantity", [0.5, -0.5])
def test_funding_paid_at_each_funding_time_is_rate_times_notional(
    data_dir: Path, quantity: float
) -> None:
    from datetime import UTC, datetime

    start = from_datetime(datetime(2022, 5, 1, tzinfo=UTC))
    end = from_datetime(datetime(2022, 5, 15, tzinfo=UTC))
    frame = CandleStore(data_dir).load("BTCUSDT", "1h", start, end)
    rates = CandleStore(data_dir).funding_rates("BTCUSDT")
    config = SessionConfig("1h", initial_balance=100_000.0, funding=FundingConfig(default_rate=0.5))
    runner = TradingSession(
        config, {"BTCUSDT": frame}, BuyAndHold(quantity), funding_rates={"BTCUSDT": rates}
    )
    runner.run()

    close_at = dict(
        zip((frame["open_time"] + 3_600_000).tolist(), frame["close"].tolist(), strict=True)
    )
    rate_at = {round_funding_time(r.funding_time): r.rate for r in rates}
    entry_time = int(frame["open_time"].iloc[1])  # filled at the second candle's open
    expected_times = [
        t for t in sorted(rate_at) if entry_time < t <= int(frame["open_time"].iloc[-1]) + 3_600_000
    ]
    entries = [e for e in runner.portfolio.ledger.entries if e.kind is LedgerKind.FUNDING]
    assert [e.time for e in entries] == expected_times
    assert len(entries) == 14 * 3  # 1 May 08:00 … 15 May 00:00
    assert len({rate_at[e.time] for e in entries}) > 3  # real, varying rates
    for entry in entries:
        payment = quantity * close_at[entry.time] * rate_at[entry.time]
        assert entry.amount == -payment  # longs pay positive rates, shorts receive them
    assert runner.portfolio.funding_paid == pytest.approx(sum(-e.amount for e in entries))
