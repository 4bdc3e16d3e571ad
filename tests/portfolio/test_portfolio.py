"""Portfolio accounting: PnL, fees, the read-only view for the risk engine, and the ledger."""

from __future__ import annotations

import pytest

from quantum_trader.domain.orders import Side
from quantum_trader.domain.time import MS_PER_DAY
from quantum_trader.portfolio import LedgerKind, Portfolio


def test_flip_realises_pnl_and_opens_the_opposite_position() -> None:
    p = Portfolio("r")
    p.deposit(10_000.0, 0)
    p.set_leverage("BTCUSDT", 5.0, 0.004)
    p.apply_fill("BTCUSDT", Side.BUY, 1.0, 100.0, 0.05, 1, "o1")
    p.apply_fill("BTCUSDT", Side.BUY, 1.0, 110.0, 0.055, 2, "o2")
    assert p.position("BTCUSDT").entry_price == pytest.approx(105.0)
    assert p.margin_used == pytest.approx(210.0 / 5)
    p.mark("BTCUSDT", 120.0)
    assert p.unrealized_pnl == pytest.approx(30.0)
    trade = p.apply_fill("BTCUSDT", Side.SELL, 3.0, 120.0, 0.18, 3, "o3")
    assert trade is not None and trade.pnl == pytest.approx(30.0) and trade.quantity == 2.0
    assert trade.fees == pytest.approx(0.05 + 0.055 + 0.12)
    assert p.position("BTCUSDT").quantity == -1.0 and p.position("BTCUSDT").entry_price == 120.0
    assert p.unrealized_pnl == pytest.approx(0.0)
    assert p.wallet_balance == pytest.approx(10_000 + 30 - 0.05 - 0.055 - 0.18)
    assert p.wallet_balance == pytest.approx(sum(e.amount for e in p.ledger.entries))
    assert [e.kind for e in p.ledger.entries].count(LedgerKind.FEE) == 3


def test_read_only_view_for_the_risk_engine() -> None:
    p = Portfolio("r")
    view = p  # what the risk engine reads (decision/views.py adapts it to its port)
    p.deposit(1_000.0, 0)
    p.set_leverage("ETHUSDT", 3.0, 0.005)
    p.apply_fill("ETHUSDT", Side.SELL, 2.0, 50.0, 0.0, 10, "o1")
    p.on_bar("ETHUSDT", 0, MS_PER_DAY - 1, 50, 50, 40, 45.0, 1)
    assert view.equity == pytest.approx(1_010.0)
    assert view.peak_equity == pytest.approx(1_010.0)
    p.on_bar("ETHUSDT", MS_PER_DAY, 2 * MS_PER_DAY - 1, 45, 60, 45, 60.0, 1)
    assert view.daily_pnl == pytest.approx(-30.0)  # vs. the last equity of the previous UTC day
    assert view.peak_equity == pytest.approx(1_010.0)
    assert view.positions()["ETHUSDT"].quantity == -2.0
    assert view.positions()["ETHUSDT"].leverage == 3.0
    assert view.mark_prices() == {"ETHUSDT": 60.0}
    assert view.margin_used == pytest.approx(100.0 / 3)
    assert view.wallet_balance == 1_000.0


def test_ledger_load_checks_the_running_balance() -> None:
    from quantum_trader.portfolio.ledger import Ledger, LedgerEntry

    good = Ledger()
    good.append(0, LedgerKind.DEPOSIT, "", 100.0, "d")
    good.append(1, LedgerKind.FEE, "X", -1.0, "f")
    copy = Ledger()
    copy.load(list(good.entries))
    assert copy.balance == 99.0 and copy.digest == good.digest
    gap = [good.entries[0], LedgerEntry(3, 1, LedgerKind.FEE, "X", -1.0, 99.0, "f")]
    with pytest.raises(ValueError, match="entries missing"):
        Ledger().load(gap)
    wrong = [good.entries[0], LedgerEntry(2, 1, LedgerKind.FEE, "X", -1.0, 98.0, "f")]
    with pytest.raises(ValueError, match="running sum"):
        Ledger().load(wrong)


def test_a_fill_reported_twice_is_posted_once() -> None:
    """A venue reports a fill again after a reconnect or on both its stream and a poll: the
    account must count it once (issue 22; before, the second report doubled the position)."""
    once, twice = Portfolio("r"), Portfolio("r")
    for p in (once, twice):
        p.deposit(1_000.0, 0)
    once.apply_fill("BTCUSDT", Side.BUY, 1.0, 100.0, 0.05, 1, "o1", fill_id="o1-F1")
    for _ in range(2):
        twice.apply_fill("BTCUSDT", Side.BUY, 1.0, 100.0, 0.05, 1, "o1", fill_id="o1-F1")
    assert twice.position("BTCUSDT") == once.position("BTCUSDT")
    assert twice.ledger.digest == once.ledger.digest
    assert twice.duplicate_fills == 1 and once.duplicate_fills == 0
    # the ids posted survive a checkpoint: a report after a restart is still a repeat
    restored = Portfolio("r", ledger=twice.ledger)
    restored.restore(twice.snapshot())
    restored.apply_fill("BTCUSDT", Side.BUY, 1.0, 100.0, 0.05, 1, "o1", fill_id="o1-F1")
    assert restored.position("BTCUSDT") == once.position("BTCUSDT")
    assert restored.ledger.digest == once.ledger.digest
