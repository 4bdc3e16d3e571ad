"""Continuous learning's acceptance on labelled synthetic markets (issue 17), fixed seeds.

The loop (``tests/learning/loop.py``) is the production code of the learning half: daemon,
validation gate, shadow evaluator and rollout, on a simulated clock. Measured when written
(20 seeds each, ~2 minutes per test on this machine):

* after a switch from trending to reverting returns, a decay-triggered candidate reached
  PRODUCTION in 19 of 20 seeds, 18 of them within 3,000 matured labels (median 1,470);
* candidates trained on shuffled labels in a market that did not change: 0 of 20 seeds saw one
  beyond SHADOW. Many entered the shadow (2 to 11 per seed): the bootstrap model is itself
  worse than the base rate on some validation windows, and a shuffled model is about the base
  rate; the always-valid shadow test then retired every one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from quantum_trader.learning.registry import Stage
from tests.learning.loop import STEADY, run_loop

pytestmark = pytest.mark.slow

SEEDS = range(20)
LABELS_TO_PRODUCTION = 3_000


def test_after_a_regime_switch_a_candidate_reaches_production(tmp_path: Path) -> None:
    promoted = [run_loop(seed, tmp_path).labels_to_production() for seed in SEEDS]
    within = [n for n in promoted if n is not None and n <= LABELS_TO_PRODUCTION]
    assert len(within) >= 16, f"labels from the switch to production, per seed: {promoted}"


def test_candidates_on_shuffled_labels_never_leave_the_shadow(tmp_path: Path) -> None:
    beyond = {}
    for seed in SEEDS:
        result = run_loop(seed, tmp_path, regimes=STEADY, shuffle_labels=True, schedule_days=3)
        trained = {c.version for c in result.history if c.actor == "rule:continuous-learning"}
        assert trained, f"seed {seed}: no candidate was trained"
        moved = [
            (c.version, c.to_stage)
            for c in result.history
            if c.version in trained and c.to_stage in (Stage.CANARY, Stage.PRODUCTION)
        ]
        if moved:
            beyond[seed] = moved
    assert beyond == {}


def test_the_same_seed_gives_the_same_registry_history(tmp_path: Path) -> None:
    first = run_loop(3, tmp_path / "a", candles=3_500)
    second = run_loop(3, tmp_path / "b", candles=3_500)

    def trail(history: list) -> list[tuple[object, ...]]:  # type: ignore[type-arg]
        return [(c.version, c.from_stage, c.to_stage, c.at, c.actor, c.reason) for c in history]

    assert trail(first.history) == trail(second.history)
    assert first.trainings > 0
