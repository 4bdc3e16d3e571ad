from __future__ import annotations

import pytest

from quantum_trader.intelligence import MODULES, Intelligence, IntelligenceConfig, Reinforcement
from tests.intelligence.synthetic import HORIZON, Member, Replay

BAD_FROM, GOOD_FROM, END = 300, 700, 1300


def only(module: str) -> IntelligenceConfig:
    return IntelligenceConfig(enabled={m: m == module for m in MODULES})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_inverted_member_loses_weight_within_200_outcomes_and_recovers(seed: int) -> None:
    members = [
        Member("xgb", 0.75),
        Member("lgbm", 0.7),
        Member("nhits", 0.75, inverted_when=lambda step: BAD_FROM <= step < GOOD_FROM),
    ]
    intel = Intelligence(only("reinforcement"))
    replay = Replay(members, seed=seed)
    models = [m.name for m in members]
    demoted_after: int | None = None
    recovered_after: int | None = None
    first_bad = first_good = 0
    for step in range(END):
        replay.step(intel, step)
        weights, changes = intel.weights("BTCUSDT", models, now=step)
        resolved = intel.ledger.resolved_total
        if step == BAD_FROM + HORIZON:  # the first inverted vote resolves at the next step
            first_bad = resolved
        if step == GOOD_FROM + HORIZON:
            first_good = resolved
        best = max(weights.values())
        bad_phase = BAD_FROM + HORIZON < step < GOOD_FROM
        if bad_phase and demoted_after is None and weights["nhits"] < best / 3:
            demoted_after = resolved - first_bad
            assert any(c.module == "reinforcement" and c.model == "nhits" for c in changes)
        good_again = step > GOOD_FROM + HORIZON
        if good_again and recovered_after is None and weights["nhits"] >= 0.8 * best:
            recovered_after = resolved - first_good
    assert demoted_after is not None and demoted_after <= 200, demoted_after
    assert recovered_after is not None and recovered_after <= 900, recovered_after


def test_parameters_act_as_documented() -> None:
    rl = Reinforcement()
    rl.update("BTCUSDT", "a", 0.5)
    rl.update("BTCUSDT", "b", 2.0)
    learned = rl.learned("BTCUSDT", ("a", "b"))
    # exploration keeps at least epsilon / K for every member
    assert min(learned.values()) >= 0.2 / 2
    assert learned["a"] > learned["b"]
    assert sum(learned.values()) == pytest.approx(1.0)
    # a symbol never seen gets equal weights and no change is recorded
    weights, changes = rl.adjust("ETHUSDT", {"a": 0.5, "b": 0.5}, now=0)
    assert weights == {"a": 0.5, "b": 0.5} and changes == []
    with pytest.raises(ValueError, match="loss"):
        rl.update("BTCUSDT", "a", -1.0)
