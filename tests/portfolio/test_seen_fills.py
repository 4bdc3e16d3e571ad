"""The fill ids an account keeps: forgotten before a horizon, never those of kept orders nor
undated ones (restored from a checkpoint that had no times), and the horizon never goes back."""

from __future__ import annotations

import json

from quantum_trader.domain.orders import Side
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.portfolio.seen_fills import SeenFills


def test_ids_before_the_horizon_go_but_those_of_kept_orders_and_undated_ones_stay() -> None:
    seen = SeenFills()
    for t in range(10):
        assert seen.add(f"a#{t}", t, "a" if t % 2 else "b")
    assert not seen.add("a#3", 3, "a")  # taken before
    assert seen.forget_before(6, keep_orders={"a"}) == 3  # b#0, b#2, b#4
    assert sorted(seen.ids()) == ["a#1", "a#3", "a#5", "a#6", "a#7", "a#8", "a#9"]
    assert seen.forget_before(2, keep_orders=set()) == 3  # the horizon stays at 6
    assert seen.horizon == 6 and sorted(seen.ids()) == ["a#6", "a#7", "a#8", "a#9"]
    old = SeenFills()
    old.restore({"fill_ids": ["x", "y"]})  # a checkpoint from before fills were dated
    assert old.forget_before(10**15, keep_orders=set()) == 0 and len(old) == 2


def test_an_account_restores_its_ids_their_times_and_its_horizon_from_a_checkpoint() -> None:
    book = Portfolio("t")
    book.deposit(1_000.0, 0)
    for t in range(1, 5):
        book.apply_fill("BTCUSDT", Side.BUY, 0.1, 100.0, 0.0, t, f"o{t}", fill_id=f"o{t}-F1")
    assert book.forget_fills_before(3, keep_orders={"o1"}) == 1  # o2's
    restored = Portfolio("t")
    restored.restore(json.loads(json.dumps(book.snapshot())))
    assert restored.snapshot()["fill_ids"] == ["o1-F1", "o3-F1", "o4-F1"]
    assert restored.snapshot()["fills_from"] == 3
    assert restored.forget_fills_before(4, keep_orders=set()) == 2  # o1's and o3's
    restored.apply_fill("BTCUSDT", Side.BUY, 0.1, 100.0, 0.0, 4, "o4", fill_id="o4-F1")
    assert restored.duplicate_fills == 1
