"""The judged challengers' figures the shadow evaluator keeps for ``/metrics`` (issue 20): vote
time as status counters of only the versions judged now, calibration on the matured labels of
the version's own votes, both surviving the evaluator's state, and none of it feeding back into
a decision or a stage move."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.signals import ModelVote
from quantum_trader.learning.challenger import Challenge, WatchedMember
from quantum_trader.learning.challenger_figures import (
    SHARE,
    VOTE_NS,
    VOTES,
    ChallengerFigures,
    challenger_bucket_counter,
    challenger_name,
    parse_challenger,
)
from quantum_trader.learning.registry import ModelKey, Stage
from quantum_trader.learning.shadow import ShadowEvaluator
from quantum_trader.models.ensemble.ensemble import VOTE_TIME_BOUNDS_NS
from quantum_trader.models.ensemble.member import Abstention, VoteContext
from quantum_trader.status.registry import ModuleHandle, StatusRegistry
from tests.intelligence.calibration_cases import direct, votes
from tests.learning.test_rollout import BASE, CONFIG, HORIZON, KEY, LINE, TF, Fake, Rig, World

Probs = tuple[float, float, float]


class Scripted:
    """A member answering the next of ``answers`` at each vote, after sleeping ``seconds``."""

    def __init__(self, answers: list[Probs], seconds: float = 0.0) -> None:
        self.name = "xgb"
        self._answers = iter(answers)
        self._seconds = seconds

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        time.sleep(self._seconds)
        return ModelVote("xgb", *next(self._answers))


def shadow_handle() -> ModuleHandle:
    return StatusRegistry(SimulatedClock(0)).register("shadow_models", enabled=True, reason="t")


def drive(
    evaluator: ShadowEvaluator, slot: WatchedMember, start: int, stop: int, labels: list[int]
) -> None:
    """One decision per bar in [start, stop) and, first, the labels that matured by then (the
    prediction of bar ``t``'s label is ``labels[t]``; 0 past them)."""
    for bar in range(start, stop):
        now = (bar + 1) * TF
        evaluator.resolve(now, lambda _s, t: (labels[t // TF :] or [0])[0], ["BTCUSDT"])
        slot.vote("BTCUSDT", VoteContext(time=now))
        slot.ask_deferred()


def challenger_counters(handle: ModuleHandle) -> dict[str, int]:
    return {k: v for k, v in handle.status.counters.items() if k.startswith("challenger_")}


def test_names_round_trip() -> None:
    name = challenger_name("patchtst/global/h4", 12)
    assert parse_challenger(name) == (ModelKey("patchtst", "global", 4), 12)
    with pytest.raises(ValueError, match="MODEL/SCOPE/hHORIZON@vVERSION"):
        parse_challenger("xgb/BTCUSDT/h4")


def test_vote_time_counts_every_timed_vote_of_the_judged_version_only() -> None:
    handle = shadow_handle()
    evaluator = ShadowEvaluator(HORIZON, TF, handle=handle)
    slot = WatchedMember(Fake(lambda t: BASE), 1, LINE, evaluator)
    drive(evaluator, slot, 0, 5, [])  # no challenger: no challenger counters
    assert challenger_counters(handle) == {}
    evaluator.start_challenge(LINE, 2, 0.0)
    slot.challenge = Challenge(Scripted([BASE] * 8, seconds=0.002), 2, 0.0)
    drive(evaluator, slot, 5, 13, [])
    name = challenger_name(LINE, 2)
    counters = handle.status.counters
    latencies = list(evaluator.watch(LINE).latencies_ns)
    assert counters[VOTES + name] == len(latencies) == 8
    assert counters[VOTE_NS + name] == sum(latencies) >= 8 * 2_000_000
    assert counters[SHARE + name] == 0  # SHADOW
    for bound in VOTE_TIME_BOUNDS_NS:  # each vote in the one bucket its latency falls in
        lower = max([b for b in VOTE_TIME_BOUNDS_NS if b < bound], default=-1)
        want = sum(1 for ns in latencies if lower < ns <= bound)
        assert counters.get(challenger_bucket_counter(bound, name), 0) == want
    # a canary step of the same version: its counters go on, its share changes
    evaluator.start_challenge(LINE, 2, 0.25)
    slot.challenge = Challenge(Scripted([BASE] * 3), 2, 0.25)
    drive(evaluator, slot, 13, 16, [])
    assert counters[VOTES + name] == 11 and counters[SHARE + name] == 25
    # another version takes the line: only its counters are there
    evaluator.start_challenge(LINE, 3, 0.0)
    slot.challenge = Challenge(Scripted([BASE] * 2), 3, 0.0)
    drive(evaluator, slot, 16, 18, [])
    assert {k.split(".", 1)[1] for k in challenger_counters(handle)} == {challenger_name(LINE, 3)}
    assert counters[VOTES + challenger_name(LINE, 3)] == 2
    # its challenge ends: no challenger counter is left, and a late vote adds none
    evaluator.end_challenge(LINE)
    assert challenger_counters(handle) == {}
    evaluator.figures.on_vote(LINE, 3, 1_000)
    assert challenger_counters(handle) == {}


def test_calibration_is_the_discounted_figures_of_the_versions_matured_labels() -> None:
    probs, labels = votes(5, 60)
    evaluator = ShadowEvaluator(HORIZON, TF, handle=shadow_handle())
    slot = WatchedMember(Fake(lambda t: BASE), 1, LINE, evaluator)
    evaluator.start_challenge(LINE, 2, 0.0)
    slot.challenge = Challenge(Scripted(probs), 2, 0.0)
    drive(evaluator, slot, 0, len(labels), labels)
    # the vote at bar t (prediction time t) is labelled by labels[t] and resolved at bar
    # t + HORIZON, before that bar's decision
    matured = len(labels) - HORIZON
    figures = evaluator.figures.calibration(LINE)
    assert figures is not None
    got = figures.figures("BTCUSDT", challenger_name(LINE, 2))
    assert got is not None
    want = direct(probs[:matured], labels[:matured], evaluator.figures.discount)
    assert evaluator.figures.discount == 0.95  # reinforcement's, as a member's live figures
    assert (got.ece, got.brier, got.log_loss, got.weight) == pytest.approx(
        (want["ece"], want["brier"], want["log_loss"], want["count"]), rel=1e-9
    )
    # the guardrail's plain ECE is on the same labels (no discount), kept as it was
    assert len(evaluator.watch(LINE).recent) == matured
    # another version on the line starts from nothing
    evaluator.start_challenge(LINE, 3, 0.0)
    assert evaluator.figures.calibration(LINE) is None


def test_the_figures_survive_the_evaluators_state() -> None:
    probs, labels = votes(6, 40)
    handle = shadow_handle()
    evaluator = ShadowEvaluator(HORIZON, TF, handle=handle)
    slot = WatchedMember(Fake(lambda t: BASE), 1, LINE, evaluator)
    evaluator.start_challenge(LINE, 2, 0.5)
    slot.challenge = Challenge(Scripted(probs), 2, 0.5)
    drive(evaluator, slot, 0, len(labels), labels)
    state = evaluator.to_state()
    restarted = ShadowEvaluator(HORIZON, TF, handle=(other := shadow_handle()))
    restarted.load_state(state)
    assert restarted.to_state() == state
    assert other.status.counters[SHARE + challenger_name(LINE, 2)] == 50
    # a state saved before the figures existed: the judged version's figures start anew
    del state["challengers"]
    old = ShadowEvaluator(HORIZON, TF)
    old.load_state(state)
    assert old.figures.judged() == {LINE: (2, 0.5)}
    assert old.figures.calibration(LINE) is None


class Inert(ChallengerFigures):
    """Figures that record nothing: the evaluator as it was before them."""

    def begin(self, line: str, version: int, share: float) -> None:
        pass

    def end(self, line: str) -> None:
        pass

    def on_vote(self, line: str, version: int, elapsed_ns: int) -> None:
        pass

    def on_label(self, *args: object) -> None:  # type: ignore[override]
        pass


def test_the_figures_change_no_decision_and_no_stage_move(tmp_path: Path) -> None:
    """The walk of a better challenger from SHADOW to PRODUCTION, once with the figures and
    once without: the same ensemble decisions (weights included) and registry history."""
    world = World(1, 6_000)
    runs = []
    for n, figures_on in enumerate((True, False)):
        engine = open_database(f"sqlite:///{tmp_path / f'{n}.sqlite'}")
        rig = Rig(engine, Fake(lambda t: BASE), CONFIG)
        if not figures_on:
            rig.evaluator.figures = Inert(None)
        rig.add(Fake(world.truth), Stage.SHADOW)
        decisions = []
        for bar in range(6_000):
            now = (bar + 1) * TF
            rig.clock.advance_to(now)
            rig.evaluator.resolve(now, world.label, ["BTCUSDT"])
            decisions.append(rig.ensemble.decide("BTCUSDT", VoteContext(time=now)))
            rig.book.ask_deferred()
            if bar % 12 == 0:
                rig.controller.check(now)
        history = [(c.version, c.from_stage, c.to_stage, c.action, c.at, c.reason)
                   for c in rig.registry.history(KEY)]  # fmt: skip
        watch = rig.evaluator.to_state()
        watch.pop("challengers")
        runs.append((decisions, history, watch))
        engine.dispose()
    (decisions, history, watch), (plain, plain_history, plain_watch) = runs
    assert decisions == plain
    assert history == plain_history
    assert watch == plain_watch
    assert [h[2] for h in history][-1] is Stage.PRODUCTION  # the walk went all the way
