"""The cost gate under a label that is not the return's sign (the triple barrier): each move
counts in the class its label gives, not in the class of its own sign."""

from __future__ import annotations

import pytest

from quantum_trader.features.labels import DOWN, FLAT, UP
from quantum_trader.strategy.cost_gate import EntryCostConfig, EntryCostGate


def _gate() -> EntryCostGate:
    return EntryCostGate(EntryCostConfig(0.0005, 1.0, 4, min_per_class=2, window=6), 0.001)


def test_a_move_counts_in_the_class_its_label_gives() -> None:
    gate = _gate()
    # an upper barrier touched, then a fall back by the time limit: UP with a negative return
    for r, label in ((-0.002, UP), (0.03, UP), (0.0005, DOWN), (-0.02, DOWN), (0.01, FLAT)):
        gate.observe("BTCUSDT", r, label)
    gate.observe("BTCUSDT", -0.01, FLAT)
    assert gate.class_means("BTCUSDT") == pytest.approx((-0.00975, 0.0, 0.014))


def test_without_an_outcome_the_sign_classifies_as_before() -> None:
    labelled, signed = _gate(), _gate()
    for r in (0.02, 0.0002, -0.03, 0.01, -0.0005, -0.01):
        signed.observe("ETHUSDT", r)
        labelled.observe("ETHUSDT", r, UP if r > 0.001 else DOWN if r < -0.001 else FLAT)
    assert signed.class_means("ETHUSDT") == labelled.class_means("ETHUSDT")
    assert signed.class_means("ETHUSDT") == pytest.approx((-0.02, -0.00015, 0.015))


def test_an_outcome_outside_the_classes_is_refused() -> None:
    with pytest.raises(ValueError, match="outcome=3"):
        _gate().observe("BTCUSDT", 0.01, 3)
