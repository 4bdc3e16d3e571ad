"""Shadow, canary, promotion and rollback on evidence (issue 17 items 3-4), with fake members
whose probabilities the test controls, on labels drawn from a known process.

The market: each bar has a hidden state; a *skilled* member knows it and predicts the true
class distribution (calibrated by construction), a *base-rate* member predicts the overall
class frequencies (no skill, also calibrated). Labels are drawn from the true distribution.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.signals import ModelVote
from quantum_trader.learning.challenger import Challenge, WatchedMember, blend
from quantum_trader.learning.registry import Action, ModelKey, ModelRegistry, Stage
from quantum_trader.learning.rollout import (
    RolloutConfig,
    RolloutController,
    SlotBook,
    TradingCheck,
)
from quantum_trader.learning.serving import LoadedMember
from quantum_trader.learning.shadow import ShadowEvaluator
from quantum_trader.models.base import ModelMetadata
from quantum_trader.models.ensemble.ensemble import Ensemble, EnsembleConfig
from quantum_trader.models.ensemble.member import Abstention, Member, VoteContext
from quantum_trader.status.registry import StatusRegistry

TF = 3_600_000
HORIZON = 4
KEY = ModelKey("xgb", "BTCUSDT", HORIZON)
LINE = str(KEY)
UP_WORLD = (0.1, 0.2, 0.7)  # true class distribution when the hidden state is 1
DOWN_WORLD = (0.7, 0.2, 0.1)
BASE = (0.4, 0.2, 0.4)

Probs = tuple[float, float, float]


class World:
    """Hidden states and labels per bar (seeded)."""

    def __init__(self, seed: int, bars: int) -> None:
        rng = np.random.default_rng(seed)
        self.state = rng.integers(0, 2, bars)
        u = rng.random(bars)
        self.labels: dict[int, int] = {}
        for t in range(bars):
            dist = UP_WORLD if self.state[t] else DOWN_WORLD
            self.labels[t * TF] = int(np.searchsorted(np.cumsum(dist), u[t]))

    def truth(self, decided_at: int) -> Probs:
        return UP_WORLD if self.state[decided_at // TF - 1] else DOWN_WORLD

    def label(self, _symbol: str, prediction_time: int) -> int | None:
        return self.labels.get(prediction_time)


class Fake:
    """A member answering ``answer(decided_at)``."""

    def __init__(self, answer: Callable[[int], Probs | None]) -> None:
        self.name = "xgb"
        self.answer = answer

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        probs = self.answer(context.time)
        if probs is None:
            return Abstention("xgb", "warm-up")
        return ModelVote("xgb", *probs)


def _meta(tag: str) -> ModelMetadata:
    return ModelMetadata("xgb", tag, "BTCUSDT", HORIZON, ("f",), {}, (0, 1), "d" + tag)


class Rig:
    """One line served in one ensemble, its registry, evaluator, slots and controller."""

    def __init__(
        self,
        engine: Engine,
        champion: Member,
        config: RolloutConfig,
        on_replay_time: Callable[[], bool] = lambda: False,
    ) -> None:
        self.clock = SimulatedClock(0)
        self.registry = ModelRegistry(SqlRegistryRepository(engine), self.clock)
        self.members: dict[int, Member] = {}
        self.status = StatusRegistry(self.clock)
        self.evaluator = ShadowEvaluator(
            HORIZON, TF, handle=self.status.register("shadow_models", enabled=True, reason="t")
        )
        self.book = SlotBook(self.evaluator, {}, HORIZON)
        v = self.add(champion, Stage.PRODUCTION)
        self.slot = self.book.wrap("BTCUSDT", champion, v)
        self.ensemble = Ensemble(EnsembleConfig(("xgb",), 1), [self.slot], versions={"xgb": v})
        self.controller = RolloutController(
            self.registry,
            self.evaluator,
            self.book,
            self._load,
            config=config,
            serve_production=self._serve,
            handle=self.status.register("continuous_learning", enabled=True, reason="t"),
            on_replay_time=on_replay_time,
        )

    def add(self, member: Member, stage: Stage) -> int:
        version = self.registry.register(
            _meta(str(len(self.members))), f"h{len(self.members)}", actor="test", reason="t"
        ).version
        self.members[version] = member
        if stage is not Stage.CANDIDATE:
            self.registry.promote(KEY, version, actor="test", reason="t", to=stage)
        return version

    def _load(self, key: ModelKey, stage: Stage) -> LoadedMember:
        version = [v for v in self.registry.versions(key) if v.stage is stage][-1].version
        return LoadedMember(self.members[version], version)

    def _serve(self, _now: int) -> None:
        production = self.registry.production(KEY)
        assert production is not None
        if production.version != self.slot.champion_version:
            loaded = LoadedMember(self.members[production.version], production.version)
            self.book.swap(self.ensemble, "BTCUSDT", loaded)
            self.slot = self.book.slots(LINE)[0]

    def run(self, world: World, start: int, stop: int, every: int = 24) -> None:
        for bar in range(start, stop):
            now = (bar + 1) * TF
            self.clock.advance_to(now)
            self.evaluator.resolve(now, world.label, ["BTCUSDT"])
            self.ensemble.decide("BTCUSDT", VoteContext(time=now))
            self.book.ask_deferred()  # as the pipeline does after each decision
            if bar % every == 0:
                self.controller.check(now)

    def stages(self) -> list[tuple[Stage | None, Stage, Action]]:
        return [(c.from_stage, c.to_stage, c.action) for c in self.registry.history(KEY)]


CONFIG = RolloutConfig(min_matured=100)


def test_a_better_challenger_walks_shadow_canary_production(db_engine: Engine) -> None:
    world = World(1, 6_000)
    rig = Rig(db_engine, Fake(lambda t: BASE), CONFIG)
    better = rig.add(Fake(world.truth), Stage.SHADOW)
    heard: list[tuple[str, int | None]] = []  # what shadow trading hears of the challenger
    rig.book.listeners.append(lambda line, version: heard.append((line, version)))
    shares = []
    for chunk in range(0, 6_000, 12):
        rig.run(world, chunk, chunk + 12, every=12)
        challenge = rig.slot.challenge
        shares.append(None if challenge is None else challenge.share)
    assert rig.registry.production(KEY).version == better  # type: ignore[union-attr]
    assert rig.slot.champion_version == better and rig.slot.challenge is None
    ours = [c for c in rig.registry.history(KEY) if c.actor == "rule:rollout"]
    assert [(c.to_stage, c.action) for c in ours] == [
        (Stage.CANARY, Action.PROMOTE),
        (Stage.CANARY, Action.CANARY_STEP),
        (Stage.RETIRED, Action.REPLACED),
        (Stage.PRODUCTION, Action.PROMOTE),
    ]
    assert all("better than the champion" in c.reason for c in ours)
    # the slot served the canary at its shares, in order
    seen = [s for i, s in enumerate(shares) if s is not None and (i == 0 or shares[i - 1] != s)]
    assert seen[:3] == [0.0, 0.25, 0.5]
    # the challenger came and left (promoted): its canary steps changed the share only
    assert heard == [(LINE, better), (LINE, None)]


def test_canary_blends_the_slot_vote_and_shadow_does_not() -> None:
    champ, other = ModelVote("xgb", 0.2, 0.2, 0.6), ModelVote("xgb", 0.6, 0.2, 0.2)
    assert blend(champ, other, 0.5) == ModelVote("xgb", 0.4, 0.2, 0.4)
    evaluator = ShadowEvaluator(HORIZON, TF)
    slot = WatchedMember(Fake(lambda t: (0.2, 0.2, 0.6)), 1, LINE, evaluator)
    context = VoteContext(time=TF)
    alone = slot.vote("BTCUSDT", context)
    slot.challenge = Challenge(Fake(lambda t: (0.6, 0.2, 0.2)), 2, 0.0)
    assert slot.vote("BTCUSDT", context) == alone
    slot.challenge = Challenge(Fake(lambda t: (0.6, 0.2, 0.2)), 2, 0.25)
    mixed = slot.vote("BTCUSDT", context)
    assert isinstance(mixed, ModelVote)
    assert (mixed.p_down, mixed.p_flat, mixed.p_up) == pytest.approx((0.3, 0.2, 0.5))


def test_a_clone_of_the_champion_stays_in_the_shadow_until_it_times_out(
    db_engine: Engine,
) -> None:
    """Equal losses are no evidence: the clone is neither promoted nor found worse, and after
    ``max_matured`` paired labels without a verdict it is retired as inconclusive."""
    world = World(2, 3_000)
    rig = Rig(db_engine, Fake(world.truth), CONFIG)
    clone = rig.add(Fake(world.truth), Stage.SHADOW)
    rig.run(world, 0, 900)
    assert rig.registry.get(KEY, clone).stage is Stage.SHADOW
    watch = rig.evaluator.watch(LINE)
    assert watch.matured > 800 and watch.challenge is not None
    assert watch.challenge.evidence().mean == 0.0
    rig.run(world, 900, 3_000)
    trail = [c for c in rig.registry.history(KEY) if c.version == clone]
    assert [c.to_stage for c in trail] == [Stage.CANDIDATE, Stage.SHADOW, Stage.RETIRED]
    assert trail[-1].reason.startswith("inconclusive")


@pytest.mark.parametrize("seed", range(3))
def test_a_skill_less_challenger_never_leaves_the_shadow(db_engine: Engine, seed: int) -> None:
    """What a candidate trained on shuffled labels is: no better than the base rate."""
    world = World(10 + seed, 4_000)
    rig = Rig(db_engine, Fake(world.truth), CONFIG)
    shuffled = rig.add(Fake(lambda t: BASE), Stage.SHADOW)
    rig.run(world, 0, 4_000)
    trail = [c for c in rig.registry.history(KEY) if c.version == shuffled]
    assert Stage.CANARY not in [c.to_stage for c in trail]
    assert trail[-1].to_stage is Stage.RETIRED and "worse than the champion" in trail[-1].reason


@pytest.mark.parametrize("seed", range(4))
def test_inverted_production_outputs_are_rolled_back(db_engine: Engine, seed: int) -> None:
    """The production version's outputs are inverted at bar 1,000 (a fault): the pointer
    returns to the version before it within 150 labels matured on the inverted outputs
    (measured over seeds 0-9, checked every 4 bars: 51 to 147)."""
    world = World(seed, 3_000)
    fault = 1_000

    def faulty(t: int) -> Probs:
        down, flat, up = world.truth(t)
        return (up, flat, down) if t > fault * TF else (down, flat, up)

    rig = Rig(db_engine, Fake(world.truth), CONFIG)  # v1, the earlier production version
    v2 = rig.add(Fake(faulty), Stage.PRODUCTION)
    rig._serve(0)
    rig.run(world, 0, fault)
    assert rig.registry.production(KEY).version == v2  # type: ignore[union-attr]
    assert rig.evaluator.watch(LINE).production_matured > 900
    bar = fault
    while bar < 3_000 and rig.registry.production(KEY).version == v2:  # type: ignore[union-attr]
        rig.run(world, bar, bar + 4, every=4)
        bar += 4
    restored = rig.registry.production(KEY)
    assert restored is not None and restored.version == 1
    last = rig.registry.history(KEY)[-1]
    assert last.action is Action.ROLLBACK and "worse than the base rate" in last.reason
    # a prediction made after the fault matures horizon + 1 bars later
    matured_inverted = bar - fault - (HORIZON + 1)
    assert matured_inverted <= 150


def test_a_good_production_version_is_not_rolled_back(db_engine: Engine) -> None:
    world = World(9, 5_000)
    rig = Rig(db_engine, Fake(world.truth), CONFIG)
    v2 = rig.add(Fake(world.truth), Stage.PRODUCTION)
    rig._serve(0)
    rig.run(world, 0, 5_000)
    assert rig.registry.production(KEY).version == v2  # type: ignore[union-attr]


def test_a_non_finite_challenger_trips_the_guardrail_at_once(db_engine: Engine) -> None:
    world = World(5, 300)

    class Broken:
        name = "xgb"

        def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
            return ModelVote("xgb", float("nan"), 0.5, 0.5)

    rig = Rig(db_engine, Fake(world.truth), CONFIG)
    broken = rig.add(Broken(), Stage.SHADOW)
    rig.run(world, 0, 30, every=1)
    assert rig.registry.get(KEY, broken).stage is Stage.RETIRED
    assert "guardrail: 1 failed votes" in rig.registry.history(KEY)[-1].reason
    assert rig.slot.challenge is None


@pytest.mark.parametrize("replay_time", [False, True])
def test_the_latency_guardrail_acts_on_wall_time_only(db_engine: Engine, replay_time: bool) -> None:
    """A challenger slower than the guardrail is retired on wall time; on replay time its
    latency (the machine's load, not the candles') is logged and counted, never acted on, so a
    replay's outcome does not depend on what ran beside it."""
    world = World(5, 300)
    truth = world.truth

    class Slow:
        name = "xgb"

        def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
            time.sleep(0.002)
            probs = truth(context.time)
            return Abstention("xgb", "warm-up") if probs is None else ModelVote("xgb", *probs)

    config = RolloutConfig(min_matured=100, max_latency_ms=1.0)
    rig = Rig(db_engine, Fake(truth), config, on_replay_time=lambda: replay_time)
    slow = rig.add(Slow(), Stage.SHADOW)
    rig.run(world, 0, 130, every=10)
    stage = rig.registry.get(KEY, slow).stage
    waived = rig.status.get("continuous_learning").status.counters.get(
        "latency_guardrail_waived", 0
    )
    if replay_time:
        assert stage is Stage.SHADOW and waived == 1
    else:
        assert stage is Stage.RETIRED and waived == 0
        assert "guardrail: vote latency p99" in rig.registry.history(KEY)[-1].reason


def test_a_slot_without_challenger_decides_as_its_member_alone() -> None:
    world = World(6, 200)
    member = Fake(world.truth)
    plain = Ensemble(EnsembleConfig(("xgb",), 1), [member])
    slot = WatchedMember(member, 1, LINE, ShadowEvaluator(HORIZON, TF))
    watched = Ensemble(EnsembleConfig(("xgb",), 1), [slot])
    for bar in range(200):
        context = VoteContext(time=(bar + 1) * TF)
        assert plain.decide("BTCUSDT", context) == watched.decide("BTCUSDT", context)


def test_the_evaluator_state_survives_a_restart() -> None:
    world = World(7, 600)
    evaluator = ShadowEvaluator(HORIZON, TF)
    slot = WatchedMember(Fake(world.truth), 1, LINE, evaluator)
    evaluator.start_challenge(LINE, 2, 0.0)
    slot.challenge = Challenge(Fake(lambda t: BASE), 2, 0.0)

    def drive(ev: ShadowEvaluator, start: int, stop: int) -> None:
        for bar in range(start, stop):
            now = (bar + 1) * TF
            ev.resolve(now, world.label, ["BTCUSDT"])
            slot._observer = ev
            slot.vote("BTCUSDT", VoteContext(time=now))
            slot.ask_deferred()

    drive(evaluator, 0, 300)
    restarted = ShadowEvaluator(HORIZON, TF)
    restarted.load_state(evaluator.to_state())
    drive(evaluator, 300, 600)
    drive(restarted, 300, 600)
    assert restarted.to_state() == evaluator.to_state()
    assert evaluator.watch(LINE).matured > 500


def test_a_line_reported_far_ahead_does_not_hold_another_line_back() -> None:
    """A batch reports one line's votes for many bars ahead; another line's earlier predictions
    still mature on time (one queue per line: the pipeline keeps only recent closes, so a label
    asked for late is gone — 9,072 of 17,474 were dropped in a 90-day run before)."""
    evaluator = ShadowEvaluator(HORIZON, TF)
    first = WatchedMember(Fake(lambda t: BASE), 1, "xgb/BTCUSDT/h4", evaluator)
    second = WatchedMember(Fake(lambda t: BASE), 1, "lgbm/BTCUSDT/h4", evaluator)
    vote = ModelVote("xgb", *BASE)
    for bar in range(1, 200):  # the first line's batch, far ahead
        evaluator.on_votes(first, "BTCUSDT", bar * TF, vote, None, 0)
    evaluator.on_votes(second, "BTCUSDT", TF, vote, None, 0)
    due = (HORIZON + 1) * TF  # the predictions decided at TF (candle 0) mature now
    assert evaluator.resolve(due, lambda _s, t: 1 if t == 0 else None, ["BTCUSDT"]) == 2


class Trades:
    """Shadow trading's evidence, as the test sets it."""

    def __init__(self, trades: int = 0, worse: bool = False) -> None:
        self.trades, self.worse = trades, worse

    def __call__(self, line: str) -> TradingCheck | None:
        return TradingCheck(self.trades, self.worse, f"{self.trades} trades")


def test_a_better_forecaster_steps_only_once_its_account_has_traded(db_engine: Engine) -> None:
    world = World(1, 6_000)
    rig = Rig(db_engine, Fake(lambda t: BASE), CONFIG)
    better = rig.add(Fake(world.truth), Stage.SHADOW)
    trades = Trades(trades=CONFIG.min_trades - 1)
    rig.controller.trading = trades
    rig.run(world, 0, 600)
    assert rig.registry.get(KEY, better).stage is Stage.SHADOW  # BETTER, but too few trades
    assert rig.status.get("continuous_learning").status.counters["checks_waiting_for_trades"] > 0
    trades.trades = CONFIG.min_trades
    rig.run(world, 600, 700)
    step = next(c for c in rig.registry.history(KEY) if c.actor == "rule:rollout")
    assert step.to_stage is Stage.CANARY and "trades not worse: 10 trades" in step.reason


def test_a_better_forecaster_whose_account_trades_worse_is_retired(db_engine: Engine) -> None:
    world = World(1, 3_000)
    rig = Rig(db_engine, Fake(lambda t: BASE), CONFIG)
    better = rig.add(Fake(world.truth), Stage.SHADOW)
    rig.controller.trading = Trades(trades=25, worse=True)
    rig.run(world, 0, 1_000)
    trail = [c for c in rig.registry.history(KEY) if c.version == better]
    assert [c.to_stage for c in trail] == [Stage.CANDIDATE, Stage.SHADOW, Stage.RETIRED]
    assert trail[-1].reason.startswith("better forecasts but worse trades")


def test_an_account_that_never_trades_ends_the_challenge_as_inconclusive(
    db_engine: Engine,
) -> None:
    world = World(1, 3_000)
    rig = Rig(db_engine, Fake(lambda t: BASE), CONFIG)
    better = rig.add(Fake(world.truth), Stage.SHADOW)
    rig.controller.trading = Trades(trades=0)
    rig.run(world, 0, 1_200)
    last = rig.registry.history(KEY)[-1]
    assert last.version == better and last.to_stage is Stage.RETIRED
    assert last.reason.startswith("inconclusive: 0 shadow trades")


class Heard:
    """A vote observer that keeps what it hears."""

    def __init__(self) -> None:
        self.votes: list[tuple[int, bool]] = []  # (decided at, the challenger answered)

    def on_votes(self, slot, symbol, decided_at, champion, challenger, challenger_ns) -> None:  # type: ignore[no-untyped-def]
        self.votes.append((decided_at, challenger is not None))

    def on_challenger_failure(self, slot: WatchedMember, symbol: str, error: str) -> None:
        raise AssertionError(error)


def test_a_shadow_challenger_is_asked_after_the_decision_not_inside_it() -> None:
    asked: list[int] = []

    def challenger(t: int) -> Probs:
        asked.append(t)
        return BASE

    heard = Heard()
    slot = WatchedMember(Fake(lambda t: (0.2, 0.2, 0.6)), 1, LINE, heard)
    slot.challenge = Challenge(Fake(challenger), 2, 0.0)
    for t in (TF, 2 * TF):
        slot.vote("BTCUSDT", VoteContext(time=t))
    assert asked == [] and heard.votes == []  # the decisions held the champion's votes alone
    slot.ask_deferred()
    assert asked == [TF, 2 * TF] and heard.votes == [(TF, True), (2 * TF, True)]
    slot.ask_deferred()
    assert asked == [TF, 2 * TF]  # each decision is asked about once
    slot.challenge = Challenge(Fake(challenger), 2, 0.25)  # a canary's vote is in the decision
    slot.vote("BTCUSDT", VoteContext(time=3 * TF))
    assert asked[-1] == 3 * TF
