"""The consensus rule for every count of agreeing models; disabled members; weights port."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.signals import Direction, ModelVote, Signal, WeightChange
from quantum_trader.models.ensemble import (
    Abstention,
    DisabledMember,
    Ensemble,
    EnsembleConfig,
    TabularMember,
    VoteContext,
    Weighting,
    consensus,
)
from quantum_trader.models.ensemble.member import BatchWork
from quantum_trader.status.registry import ModuleState, StatusRegistry

UP = ModelVote("up", 0.1, 0.2, 0.7)
DOWN = ModelVote("down", 0.7, 0.2, 0.1)
FLAT = ModelVote("flat", 0.2, 0.6, 0.2)
WEAK_UP = ModelVote("weak", 0.3, 0.32, 0.38)  # UP is its top class but below the threshold


class FixedMember:
    def __init__(self, name: str, vote: ModelVote | None) -> None:
        self.name = name
        self._vote = vote

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        if self._vote is None:
            return Abstention(self.name, "warm-up")
        v = self._vote
        return ModelVote(self.name, v.p_down, v.p_flat, v.p_up)


@pytest.mark.parametrize("min_consensus", [1, 2, 3, 4])
@pytest.mark.parametrize("agreeing", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("direction", [Direction.UP, Direction.DOWN])
def test_directional_exactly_when_enough_members_agree(
    min_consensus: int, agreeing: int, direction: Direction
) -> None:
    agree = UP if direction is Direction.UP else DOWN
    votes = [agree] * agreeing + [FLAT] * (4 - agreeing)
    result = consensus(votes, min_consensus, threshold=0.5)
    assert result.agreeing == agreeing
    if agreeing >= min_consensus:
        assert result.direction is direction
        assert result.probability == pytest.approx((0.7 * agreeing + 0.2 * (4 - agreeing)) / 4)
        assert 0.0 <= result.confidence <= 1.0
    else:
        assert result.direction is Direction.FLAT
        assert result.confidence == 0.0
        assert f"min consensus is {min_consensus}" in result.reason


def test_below_threshold_does_not_count_and_opposite_sides_do_not_add_up() -> None:
    assert consensus([WEAK_UP, WEAK_UP], 2, 0.4).direction is Direction.FLAT
    split = consensus([UP, DOWN, UP, DOWN], 3, 0.5)
    assert split.direction is Direction.FLAT and split.agreeing == 2
    assert consensus([UP, DOWN, UP], 2, 0.5).direction is Direction.UP


def test_weights_shift_the_soft_vote() -> None:
    heavy_up = ModelVote("a", 0.1, 0.2, 0.7, weight=3.0)
    light_down = ModelVote("b", 0.7, 0.2, 0.1, weight=1.0)
    result = consensus([heavy_up, light_down], 1, 0.5)
    assert result.direction is Direction.UP
    assert result.probability == pytest.approx((3 * 0.7 + 0.1) / 4)
    assert consensus([], 1, 0.5).reason == "no member voted"


class HalfWeightForB:
    def weights(self, symbol: str, models: Sequence[str]) -> Weighting:
        change = WeightChange("memory_states", "b", 1.0, 0.5, "recent hit rate low")
        return Weighting({m: (0.5 if m == "b" else 1.0) for m in models}, (change,))


def test_ensemble_signal_carries_votes_weights_and_changes() -> None:
    members = [FixedMember("a", UP), FixedMember("b", UP), FixedMember("c", None)]
    ensemble = Ensemble(EnsembleConfig(("a", "b", "c"), 2, 0.5), members, HalfWeightForB())
    decision = ensemble.decide("BTCUSDT", VoteContext(time=5))
    signal = decision.signal
    assert signal.direction is Direction.UP and signal.agreeing == 2 and signal.time == 5
    assert [(v.model, v.weight) for v in signal.votes] == [("a", 1.0), ("b", 0.5)]
    assert signal.weight_changes[0].module == "memory_states"
    assert decision.abstentions == (Abstention("c", "warm-up"),)
    assert "c (warm-up)" in decision.reason


def test_disabled_member_is_reported_and_never_replaced() -> None:
    status = StatusRegistry(SimulatedClock(0))
    xgb_handle = status.register("xgb", enabled=True, reason="configured")
    ens_handle = status.register("ensemble", enabled=True, reason="configured")
    members = [
        DisabledMember("xgb", "artifact abc is missing", xgb_handle),
        FixedMember("lgbm", UP),
    ]
    ensemble = Ensemble(EnsembleConfig(("xgb", "lgbm"), 2, 0.5), members, handle=ens_handle)
    decision = ensemble.decide("BTCUSDT", VoteContext(time=1))
    assert xgb_handle.status.state is ModuleState.DISABLED
    assert xgb_handle.status.reason == "artifact abc is missing"
    assert decision.signal.direction is Direction.FLAT  # one vote cannot meet consensus 2
    assert "only 1 member(s) voted" in decision.reason
    assert ens_handle.status.state is ModuleState.FAILED
    assert "disabled: xgb: artifact abc is missing" in ens_handle.status.reason
    one = Ensemble(EnsembleConfig(("xgb", "lgbm"), 1, 0.5), members, handle=ens_handle)
    assert one.decide("BTCUSDT", VoteContext(time=2)).signal.direction is Direction.UP
    assert ens_handle.status.state is ModuleState.DEGRADED
    assert ens_handle.status.counters["signals"] == 2


def test_config_and_member_names_are_checked() -> None:
    with pytest.raises(ValueError, match="min_consensus=3"):
        EnsembleConfig(("xgb", "lgbm"), 3)
    with pytest.raises(ValueError, match="do not match"):
        Ensemble(EnsembleConfig(("xgb",), 1), [FixedMember("lgbm", UP)])


class ConstantRow:
    name = "xgb"

    def predict_row(self, row: np.ndarray) -> np.ndarray:
        return np.array([0.2, 0.3, 0.5], dtype=np.float32).astype(np.float64)


def test_tabular_member_abstains_during_warm_up() -> None:
    member = TabularMember(ConstantRow())
    assert isinstance(member.vote("X", VoteContext(0, np.array([np.nan, 1.0]))), Abstention)
    assert isinstance(member.vote("X", VoteContext(0)), Abstention)
    vote = member.vote("X", VoteContext(0, np.array([0.0, 1.0])))
    assert isinstance(vote, ModelVote) and vote.direction is Direction.UP


class RowEcho:
    """A batch-capable member whose vote is a function of the feature row; counts its calls."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.live_calls = 0
        self.batch_calls = 0
        self.threads: set[str] = set()  # where the model calls ran
        self.fail = False

    @staticmethod
    def _vote(name: str, row: np.ndarray) -> ModelVote:
        up = 0.5 + 0.4 * np.tanh(float(row[0]))
        return ModelVote(name, (1 - up) / 2, (1 - up) / 2, up)

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        self.live_calls += 1
        assert context.features is not None
        return self._vote(self.name, context.features)

    def batch_work(self, symbol: str, contexts: Sequence[VoteContext]) -> BatchWork:
        self.batch_calls += 1
        rows = [c.features for c in contexts]

        def compute() -> list[ModelVote | Abstention | None]:
            self.threads.add(threading.current_thread().name)
            if self.fail:
                raise RuntimeError("model call failed")
            return [None if r is None else self._vote(self.name, r) for r in rows]

        return BatchWork(compute, list)


def test_prepared_votes_serve_only_the_exact_input_they_were_computed_from() -> None:
    batch, streaming_only = RowEcho("a"), FixedMember("b", UP)
    handle = StatusRegistry(SimulatedClock(0)).register("ensemble", enabled=True, reason="t")
    ensemble = Ensemble(EnsembleConfig(("a", "b"), 1), [batch, streaming_only], handle=handle)
    rows = [np.array([0.5, 1.0]), np.array([-0.5, np.nan]), np.array([1.5, 2.0])]
    contexts = [VoteContext(time=t, features=r) for t, r in zip((1, 2, 3), rows, strict=True)]
    assert ensemble.prepare("BTCUSDT", contexts) == 3
    assert batch.batch_calls == 1

    # same time, same row (NaN included): the prepared vote, no live call
    first = ensemble.decide("BTCUSDT", VoteContext(time=1, features=rows[0].copy()))
    second = ensemble.decide("BTCUSDT", VoteContext(time=2, features=rows[1].copy()))
    assert batch.live_calls == 0
    assert first.signal.votes[0].p_up == RowEcho._vote("a", rows[0]).p_up
    assert second.signal.votes[0].p_up == RowEcho._vote("a", rows[1]).p_up
    # same time, another row: the member votes live on the decision's own input
    other = np.array([-1.0, 2.0])
    third = ensemble.decide("BTCUSDT", VoteContext(time=3, features=other))
    assert batch.live_calls == 1
    assert third.signal.votes[0].p_up == RowEcho._vote("a", other).p_up
    # a time never prepared, and a prepared time asked again: live
    ensemble.decide("BTCUSDT", VoteContext(time=1, features=rows[0]))
    ensemble.decide("BTCUSDT", VoteContext(time=4, features=rows[0]))
    assert batch.live_calls == 3
    counters = handle.status.counters
    assert counters["batch_votes_prepared"] == 3
    assert counters["batch_votes_served"] == 2
    assert counters["batch_inputs_mismatched"] == 1


@pytest.mark.parametrize("fail", [False, True])
def test_model_calls_on_a_worker_thread_give_the_same_decisions(fail: bool) -> None:
    rows = [np.array([0.1 * k - 0.5, 1.0]) for k in range(12)]
    contexts = [VoteContext(time=t, features=r) for t, r in enumerate(rows)]

    def run(pool: ThreadPoolExecutor | None) -> tuple[list[Signal], dict[str, int], set[str]]:
        member = RowEcho("a")
        member.fail = fail
        handle = StatusRegistry(SimulatedClock(0)).register("ensemble", enabled=True, reason="t")
        ensemble = Ensemble(EnsembleConfig(("a",), 1), [member], handle=handle)
        submit = pool.submit if pool is not None else None
        for start in (0, 5, 10):  # three chunks, decided in time order
            ensemble.prepare("BTCUSDT", contexts[start : start + 5], submit)
        signals = [ensemble.decide("BTCUSDT", c).signal for c in contexts]
        assert member.live_calls == 0
        return signals, dict(handle.status.counters), member.threads

    if fail:  # a failed model call surfaces at the decision that needs it, on this thread
        with ThreadPoolExecutor(1) as pool, pytest.raises(RuntimeError, match="model call"):
            run(pool)
        return
    here, counters_here, threads_here = run(None)
    with ThreadPoolExecutor(1, thread_name_prefix="votes") as pool:
        there, counters_there, threads_there = run(pool)
    assert there == here and counters_there == counters_here
    assert threads_here == {threading.current_thread().name}
    assert all(name.startswith("votes") for name in threads_there)


class SlowMember(RowEcho):
    """A live vote that takes a while (like a forecaster's ONNX call) and says where it ran."""

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        self.threads.add(threading.current_thread().name)
        time.sleep(0.002)
        return super().vote(symbol, context)


def test_the_slowest_live_vote_runs_on_the_worker_with_the_same_decisions() -> None:
    rows = [np.array([0.2 * k - 1.0, 1.0]) for k in range(8)]

    def run(offload: bool) -> tuple[list[Signal], set[str]]:
        slow, quick = SlowMember("a"), RowEcho("b")
        ensemble = Ensemble(EnsembleConfig(("a", "b"), 1), [slow, quick])
        with ThreadPoolExecutor(1, thread_name_prefix="votes") as pool:
            ensemble.offload_to(pool if offload else None)
            signals = [
                ensemble.decide("BTCUSDT", VoteContext(time=t, features=r)).signal
                for t, r in enumerate(rows)
            ]
        assert [v.model for v in signals[0].votes] == ["a", "b"]  # member order kept
        return signals, slow.threads

    alone, where_alone = run(offload=False)
    shared, where_shared = run(offload=True)
    assert shared == alone
    assert where_alone == {threading.current_thread().name}
    # after its first vote here shows it is the slowest, it votes on the worker
    assert any(name.startswith("votes") for name in where_shared)


@pytest.mark.parametrize("threaded", [False, True])
def test_replace_swaps_a_member_between_decisions_and_drops_its_prepared_votes(
    threaded: bool,
) -> None:
    old, other = RowEcho("a"), FixedMember("b", UP)
    handle = StatusRegistry(SimulatedClock(0)).register("ensemble", enabled=True, reason="t")
    ensemble = Ensemble(
        EnsembleConfig(("a", "b"), 1), [old, other], handle=handle, versions={"a": 1}
    )
    assert [str(m) for m in ensemble.member_ids] == ["a v1", "b"]
    rows = [np.array([0.5, 1.0]), np.array([-0.5, 2.0]), np.array([1.5, 2.0])]
    contexts = [VoteContext(time=t, features=r) for t, r in zip((1, 2, 3), rows, strict=True)]
    with ThreadPoolExecutor(1) as pool:
        ensemble.prepare("BTCUSDT", contexts[:1])  # stored when made
        ensemble.prepare("BTCUSDT", contexts[1:], pool.submit if threaded else None)
        first = ensemble.decide("BTCUSDT", contexts[0]).signal.votes[0]
        assert first.p_up == RowEcho._vote("a", rows[0]).p_up

        new = FixedMember("a", DOWN)
        assert ensemble.replace(new, version=2) is old
        assert [str(m) for m in ensemble.member_ids] == ["a v2", "b"]
        for context in contexts[1:]:  # prepared by the old member: never served after the swap
            (vote_a, vote_b) = ensemble.decide("BTCUSDT", context).signal.votes
            assert (vote_a.p_down, vote_a.p_up) == (DOWN.p_down, DOWN.p_up)
            assert vote_b.p_up == UP.p_up
    assert old.live_calls == 0
    assert handle.status.counters["member_swaps"] == 1
    with pytest.raises(ValueError, match="no member 'c'"):
        ensemble.replace(FixedMember("c", UP))
    with pytest.raises(ValueError, match="not members"):
        Ensemble(EnsembleConfig(("a",), 1), [new], versions={"z": 3})
