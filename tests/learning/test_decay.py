"""The learning daemon's DECAY trigger (``ShadowEvaluator.decayed``): a production version's
rolling log-loss on matured labels against the base rate, on the fake members and the known
process of ``test_rollout`` (a skilled member predicts the true class distribution)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from quantum_trader.learning.shadow import DECAY_WINDOW
from tests.learning.test_rollout import CONFIG, HORIZON, LINE, TF, Fake, Probs, Rig, World

NEVER = 10**9  # the rollout controller never checks: only the trigger is under test


def _decayed_bars(rig: Rig, world: World, start: int, stop: int, every: int = 4) -> list[int]:
    """The bars (every ``every``) at which the daemon's check would see the line decayed."""
    seen = []
    for bar in range(start, stop, every):
        rig.run(world, bar, bar + every, every=NEVER)
        if LINE in rig.evaluator.decayed():
            seen.append(bar + every)
    return seen


@pytest.mark.parametrize("seed", range(4))
def test_decay_fires_for_inverted_outputs(db_engine: Engine, seed: int) -> None:
    """Outputs inverted at bar 1,000: the line reads as decayed within 120 labels matured on
    the inverted outputs (measured over seeds 0-9, looking every 4 bars: 75 to 87), and stays
    so while they last; never before the fault."""
    world = World(seed, 2_000)
    fault = 1_000

    def faulty(t: int) -> Probs:
        down, flat, up = world.truth(t)
        return (up, flat, down) if t > fault * TF else (down, flat, up)

    rig = Rig(db_engine, Fake(faulty), CONFIG)
    assert _decayed_bars(rig, world, 0, fault) == []
    seen = _decayed_bars(rig, world, fault, 2_000)
    assert seen, "inverted outputs never read as decayed"
    first = seen[0] - fault - (HORIZON + 1)  # labels matured on inverted outputs by then
    assert first <= 120
    assert seen[-1] == 2_000 and len(seen) >= (2_000 - seen[0]) // 4


@pytest.mark.parametrize("seed", range(4))
def test_decay_does_not_fire_for_a_skilled_version(db_engine: Engine, seed: int) -> None:
    world = World(100 + seed, 3_000)
    rig = Rig(db_engine, Fake(world.truth), CONFIG)
    assert _decayed_bars(rig, world, 0, 3_000) == []
    assert len(rig.evaluator.watch(LINE).rolling) == DECAY_WINDOW
