"""The allocation of ``experiments/allocation.py``: a fixed split, Thompson sampling withheld
until every arm has its minimum sample, then following the better arm with a floor for the
other, discounting that follows a change, determinism, the floor, the unit draw and the
configuration's errors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from quantum_trader.experiments.allocation import (
    Allocation,
    AllocationConfig,
    draw_arm,
    with_floor,
)


def feed(allocation: Allocation, means: dict[str, float], n: int, seed: int) -> None:
    """``n`` observations of every arm, rewards N(mean, 1)."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        allocation.observe({a: float(rng.normal(m, 1.0)) for a, m in means.items()})


def test_a_fixed_split_keeps_its_normalised_weights_whatever_the_rewards() -> None:
    allocation = Allocation(AllocationConfig(kind="fixed", weights=(3.0, 1.0)), ["a", "b"], seed=0)
    assert allocation.probabilities() == pytest.approx({"a": 0.75, "b": 0.25})
    feed(allocation, {"a": -5.0, "b": 5.0}, 300, seed=1)
    assert allocation.probabilities() == pytest.approx({"a": 0.75, "b": 0.25})
    assert not allocation.withheld() and allocation.observations == 300
    equal = Allocation(AllocationConfig(kind="fixed"), ["a", "b", "c"], seed=0)
    assert equal.probabilities() == pytest.approx(dict.fromkeys("abc", 1 / 3))


def test_thompson_is_withheld_at_the_fixed_split_until_every_arm_has_its_sample() -> None:
    config = AllocationConfig(weights=(1.0, 3.0), discount=1.0, min_samples=50)
    allocation = Allocation(config, ["a", "b"], seed=0)
    rng = np.random.default_rng(0)
    # only arm a is observed (a plain bandit): b has no sample, so nothing moves
    for _ in range(200):
        allocation.observe({"a": float(rng.normal(5.0, 1.0))})
        assert allocation.withheld()
        assert allocation.probabilities() == pytest.approx({"a": 0.25, "b": 0.75})
    for i in range(1, 51):
        allocation.observe({"a": float(rng.normal(5.0, 1.0)), "b": float(rng.normal(0.0, 1.0))})
        assert allocation.withheld() == (i < 50), i
    # now Thompson reads the rewards: a is far better
    assert allocation.probabilities()["a"] > 0.9


def test_the_minimum_sample_counts_observations_not_discounted_weight() -> None:
    """The weights stay at the fixed split for exactly min_samples observations of every arm,
    whatever the discount."""
    allocation = Allocation(AllocationConfig(min_samples=100), ["a", "b"], seed=0)
    feed(allocation, {"a": 1.0, "b": 0.0}, 99, seed=2)
    assert allocation.withheld()
    assert allocation.probabilities() == pytest.approx({"a": 0.5, "b": 0.5})
    feed(allocation, {"a": 1.0, "b": 0.0}, 1, seed=3)
    assert not allocation.withheld()


def test_under_bandit_feedback_a_rarely_drawn_arm_does_not_send_the_weights_back() -> None:
    """Only the drawn arm's reward is seen: the loser's discounted weight sinks far under the
    minimum sample, and the weights stay Thompson's (they once flapped back to the fixed split
    each time it did)."""
    config = AllocationConfig(min_samples=50, discount=0.99, draws=500)
    allocation = Allocation(config, ["a", "b"], seed=1)
    rng = np.random.default_rng(4)
    for _ in range(60):
        allocation.observe({"a": float(rng.normal(0.0, 1.0)), "b": float(rng.normal(1.0, 1.0))})
    assert not allocation.withheld()
    for _ in range(400):  # b alone from now on, as if a were never drawn
        allocation.observe({"b": float(rng.normal(1.0, 1.0))})
        assert not allocation.withheld()
    assert allocation.probabilities()["b"] > 0.8  # not the fixed split


def test_a_minimum_sample_above_what_discounting_allows_is_still_reached() -> None:
    # discount 0.9: an arm's weight tends to 10 and never reaches 100; the bar drops to 9.99
    allocation = Allocation(AllocationConfig(discount=0.9, min_samples=100), ["a", "b"], seed=0)
    feed(allocation, {"a": 1.0, "b": 0.0}, 100, seed=4)
    assert not allocation.withheld()


def test_a_clearly_better_arm_gets_most_of_the_decisions_and_the_other_keeps_its_floor() -> None:
    config = AllocationConfig(floor=0.05, min_samples=50)
    allocation = Allocation(config, ["control", "better"], seed=5)
    feed(allocation, {"control": 0.0, "better": 0.8}, 300, seed=6)
    p = allocation.probabilities()
    assert p["better"] == pytest.approx(0.95)
    assert p["control"] == pytest.approx(0.05)
    assert sum(p.values()) == pytest.approx(1.0)


def test_a_close_race_stays_shared() -> None:
    allocation = Allocation(AllocationConfig(min_samples=50), ["a", "b"], seed=0)
    feed(allocation, {"a": 0.0, "b": 0.0}, 200, seed=7)
    p = allocation.probabilities()
    assert 0.02 < p["a"] < 0.98 and sum(p.values()) == pytest.approx(1.0)


def _swap(discount: float, after: int) -> dict[str, float]:
    allocation = Allocation(AllocationConfig(discount=discount, min_samples=50), "ab", seed=1)
    feed(allocation, {"a": 0.5, "b": 0.0}, 1000, seed=8)
    assert allocation.probabilities()["a"] > 0.9
    feed(allocation, {"a": 0.0, "b": 0.5}, after, seed=9)
    return allocation.probabilities()


def test_discounting_follows_a_swap_of_the_better_arm() -> None:
    assert _swap(0.99, 600)["b"] > 0.9  # old rewards faded: b leads
    # without discounting the 1000 old rewards still outweigh 300 new ones
    assert _swap(1.0, 300)["a"] > 0.9


def test_the_same_observations_give_the_same_probabilities() -> None:
    """The posterior draws are seeded by the experiment's seed and the observation count: a
    restarted experiment that replays its observations recomputes the same weights."""

    def run(seed: int) -> list[dict[str, float]]:
        allocation = Allocation(AllocationConfig(min_samples=30), ["a", "b", "c"], seed=seed)
        seen = []
        rng = np.random.default_rng(10)
        for _ in range(150):
            allocation.observe({a: float(rng.normal(0.05 * i, 1.0)) for i, a in enumerate("abc")})
            seen.append(allocation.probabilities())
        return seen

    first, again = run(42), run(42)
    assert first == again  # bit for bit
    assert len({tuple(p.values()) for p in first[-100:]}) > 10  # they did move
    assert run(43)[-100:] != first[-100:]  # the seed matters


@pytest.mark.parametrize("floor", [0.0, 0.01, 0.05, 0.2, 0.249])
@pytest.mark.parametrize("arms", [2, 3, 4])
def test_with_floor_sums_to_one_and_respects_the_floor(floor: float, arms: int) -> None:
    rng = np.random.default_rng(arms)
    cases = [rng.dirichlet(np.full(arms, 0.3)) for _ in range(200)]
    cases += [np.eye(arms)[0], np.full(arms, 1.0 / arms)]
    for p in cases:
        out = with_floor(p, floor)
        assert out.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(out >= floor - 1e-12)
        # order kept, and an arm above the floor loses only in proportion to its surplus
        assert np.all(np.diff(out[np.argsort(p)]) >= -1e-12)
        if np.all(p >= floor):
            np.testing.assert_allclose(out, p, atol=1e-12)
    np.testing.assert_allclose(with_floor(np.array([1.0, 0.0, 0.0]), 0.01), [0.98, 0.01, 0.01])
    np.testing.assert_allclose(
        with_floor(np.array([0.7, 0.3, 0.0]), 0.1),
        [0.7 - 0.1 * 0.6 / 0.8, 0.3 - 0.1 * 0.2 / 0.8, 0.1],
    )


def test_draw_arm_is_a_pure_function_of_seed_and_unit() -> None:
    p = {"a": 0.3, "b": 0.7}
    units = [f"BTCUSDT@{i}" for i in range(200)]
    first = [draw_arm(p, u, seed=7) for u in units]
    assert first == [draw_arm(p, u, seed=7) for u in units]
    assert first != [draw_arm(p, u, seed=8) for u in units]
    assert draw_arm({"a": 1.0, "b": 0.0}, "x", seed=1) == "a"
    assert draw_arm({"a": 0.0, "b": 1.0}, "x", seed=1) == "b"
    # probabilities a hair short of 1 (rounding): the last arm takes the remainder
    assert {draw_arm({"a": 1e-12, "b": 1e-12}, u, seed=0) for u in units[:50]} == {"b"}


def test_draw_arm_frequencies_match_the_probabilities() -> None:
    p = {"a": 0.2, "b": 0.5, "c": 0.25, "d": 0.05}
    n = 20_000
    counts = Counter(draw_arm(p, f"ETHUSDT@{i}", seed=3) for i in range(n))
    for arm, prob in p.items():
        sd = (prob * (1 - prob) / n) ** 0.5
        assert abs(counts[arm] / n - prob) < 4.5 * sd, (arm, counts[arm])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "ucb"}, "allocation kind 'ucb'"),
        ({"weights": (1.0, 0.0)}, "every weight must be positive"),
        ({"weights": (1.0, -2.0)}, "every weight must be positive"),
        ({"floor": 0.5}, "floor 0.5"),
        ({"floor": -0.01}, "floor -0.01"),
        ({"discount": 0.0}, "discount 0.0"),
        ({"discount": 1.01}, "discount 1.01"),
        ({"min_samples": 0}, "min_samples=0"),
        ({"draws": 99}, "draws=99"),
    ],
)
def test_a_bad_configuration_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AllocationConfig(**kwargs)  # type: ignore[arg-type]


def test_an_allocation_that_does_not_fit_its_arms_is_refused() -> None:
    with pytest.raises(ValueError, match=r"weights \(1.0, 2.0, 3.0\): 2 arms \(a, b\)"):
        Allocation(AllocationConfig(weights=(1.0, 2.0, 3.0)), ["a", "b"], seed=0)
    with pytest.raises(ValueError, match=r"floor 0\.25: too high for 4 arms"):
        Allocation(AllocationConfig(floor=0.25), ["a", "b", "c", "d"], seed=0)
    Allocation(AllocationConfig(floor=0.24), ["a", "b", "c", "d"], seed=0)  # fits


def test_a_negative_seed_is_refused_when_declared_not_at_the_first_draw() -> None:
    """``experiments create --seed -1`` was stored; its Thompson draws then raised numpy's
    "expected non-negative integer" once every arm had its minimum sample."""
    with pytest.raises(ValueError, match="allocation seed -1: must be 0 or more"):
        Allocation(AllocationConfig(min_samples=2), ["a", "b"], seed=-1)
