from __future__ import annotations

from quantum_trader.clock import SimulatedClock
from quantum_trader.intelligence import MemoryStates
from quantum_trader.status import StatusRegistry

HITS = [1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 1]


def hand_ewma(hits: list[int]) -> float:
    value = float(hits[0])
    for h in hits[1:]:
        value = 0.3 * h + 0.7 * value
    return value


def test_does_nothing_before_ten_outcomes_then_tracks_the_ewma_exactly() -> None:
    registry = StatusRegistry(SimulatedClock(0))
    memory = MemoryStates(status=registry.register("memory_states", enabled=True, reason="t"))
    weights = {"xgb": 0.5, "lgbm": 0.5}
    for n, hit in enumerate(HITS, start=1):
        memory.record("BTCUSDT", "xgb", bool(hit))
        memory.record("BTCUSDT", "lgbm", True)
        after, changes = memory.adjust("BTCUSDT", weights, now=n)
        if n < 10:
            assert memory.confidence("BTCUSDT", "xgb") is None
            assert after == weights and changes == []
            continue
        expected = hand_ewma(HITS[:n])
        assert memory.confidence("BTCUSDT", "xgb") == expected  # exact, not approximate
        assert memory.confidence("BTCUSDT", "lgbm") == 1.0
        mean = (expected + 1.0) / 2
        raw = {"xgb": 0.5 * expected / mean, "lgbm": 0.5 * 1.0 / mean}
        total = sum(raw.values())
        assert after["xgb"] == raw["xgb"] / total
        assert [c.model for c in changes] == ["xgb", "lgbm"]
        assert all(c.module == "memory_states" for c in changes)
        assert changes[0].before == 0.5 and changes[0].after == after["xgb"]
    # the hand computation itself, written out for the first three steps: 1, 0.7, 0.79
    assert hand_ewma([1, 0, 1]) == 0.3 * 1 + 0.7 * (0.3 * 0 + 0.7 * 1)
    counters = registry.get("memory_states").status.counters
    assert counters["outcomes_resolved"] == 2 * len(HITS)
    assert counters["weight_updates"] == len(HITS) - 9


def test_immature_members_keep_a_neutral_factor() -> None:
    memory = MemoryStates()
    for _ in range(10):
        memory.record("BTCUSDT", "xgb", True)
    for _ in range(5):
        memory.record("BTCUSDT", "nhits", False)
    after, _ = memory.adjust("BTCUSDT", {"xgb": 0.5, "nhits": 0.5}, now=0)
    assert after == {"xgb": 0.5, "nhits": 0.5}  # xgb's factor is 1.0/1.0, nhits' is neutral
    assert memory.samples("BTCUSDT", "nhits") == 5
