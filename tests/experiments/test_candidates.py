"""Candidate experiments (``experiments/candidates.py``): a learning daemon's new SHADOW
version gets one experiment, production against it, declared as the CLI's defaults in shadow
mode; landing it again creates nothing; a newer candidate stops it; its records survive a
restart and a resumed run never counts a candle twice; the same landings give the same
records."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.experiments.candidates import (
    CONTROL,
    TREATMENT,
    Candidate,
    CandidateExperiments,
    candidate_spec,
)
from quantum_trader.experiments.creators import OPERATOR, creator_of, record_creator
from quantum_trader.experiments.experiment import Experiment
from quantum_trader.experiments.records import (
    ExperimentStatus,
    ExperimentStore,
    MemoryExperimentStore,
)
from quantum_trader.experiments.spec import MIN_SAMPLES, ArmSpec, ExperimentSpec
from quantum_trader.portfolio.portfolio import Portfolio

LINE = "ppo_selector/global/h0"
HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR


def _candidate(version: int) -> Candidate:
    return Candidate(LINE, version, f"rl_v3_training put {LINE} v{version} in SHADOW")


class Books:
    """The line's shadow pair's two sub-ledgers, advanced one candle at a time."""

    def __init__(self) -> None:
        self.control, self.treatment = Portfolio("twin"), Portfolio("challenger")
        self.t = T0

    def candle(self, control: float, treatment: float, *fed: CandidateExperiments) -> None:
        """Both accounts close a candle at these equities; then ``fed`` follow it."""
        self.t += HOUR
        for book, equity in ((self.control, control), (self.treatment, treatment)):
            book.equity_times.append(self.t)
            book.equity_values.append(equity)
        for c in fed:
            c.on_bar("BTCUSDT", self.t - HOUR, self.t, 1.0, 1.0, 1.0, 1.0, 1.0)

    def experiments(
        self, store: ExperimentStore, seed: int = 0, min_samples: int = MIN_SAMPLES
    ) -> CandidateExperiments:
        return CandidateExperiments(
            store, LINE, self.control, self.treatment, lambda arm: f"{arm} now",
            seed=seed, min_samples=min_samples,
        )  # fmt: skip


def test_a_landing_declares_production_against_the_candidate_in_shadow() -> None:
    store, books = MemoryExperimentStore(), Books()
    c = books.experiments(store, seed=7)
    experiment = c.land(_candidate(3), T0 + 5 * HOUR)

    assert experiment is not None and experiment.running
    assert store.names() == ["ppo_selector.global.h0@v3"]
    stored = store.load("ppo_selector.global.h0@v3")
    assert stored is not None and stored.created_at == T0 + 5 * HOUR
    spec = stored.spec
    assert spec.arms == (
        ArmSpec(CONTROL, "policy", f"{LINE}@production"),
        ArmSpec(TREATMENT, "policy", f"{LINE}@v3"),
    )
    assert spec.mode == "shadow" and spec.seed == 7
    # everything else as an operator's declaration that names only the arms
    cli_default = ExperimentSpec(spec.name, spec.arms, seed=7)
    assert spec == replace(cli_default, mode="shadow")
    assert spec.metric == "net_return_bp" and dict(spec.guardrails) == {"max_drawdown": 0.25}
    assert creator_of(stored) == f"learning daemon: rl_v3_training put {LINE} v3 in SHADOW"
    assert c.created == ["ppo_selector.global.h0@v3"]


def test_landing_the_same_candidate_again_creates_no_second_experiment() -> None:
    store, books = MemoryExperimentStore(), Books()
    c = books.experiments(store)
    first = c.land(_candidate(3), T0)
    again = c.land(_candidate(3), T0 + HOUR)
    assert again is first
    # another process (a restart) lands it too: it resumes the stored one
    other = books.experiments(store).land(_candidate(3), T0 + 2 * HOUR)
    assert other is not None and other.running and other is not first

    assert store.names() == ["ppo_selector.global.h0@v3"]
    stored = store.load("ppo_selector.global.h0@v3")
    assert stored is not None and stored.created_at == T0
    assert [a.event for a in stored.audit] == ["created", "creator"]


def test_a_newer_candidate_stops_the_older_experiment_with_its_reason() -> None:
    store, books = MemoryExperimentStore(), Books()
    # an operator's experiment named like the line's is not the daemon's: left running
    mine = ExperimentSpec("ppo_selector.global.h0@v99", (ArmSpec("a"), ArmSpec("b")))
    store.create(mine, T0)
    record_creator(store, mine.name, T0, OPERATOR)
    c = books.experiments(store, min_samples=2)  # v3 stays 2 candles: long enough for v4's
    older = c.land(_candidate(3), T0)
    assert older is not None
    books.candle(100.0, 100.0, c)
    books.candle(100.0, 100.0, c)

    newer = c.land(_candidate(4), T0 + 3 * HOUR)
    assert newer is not None and newer.spec.name == "ppo_selector.global.h0@v4"
    assert not older.running and older.status is ExperimentStatus.STOPPED
    stored = store.load("ppo_selector.global.h0@v3")
    assert stored is not None and stored.status is ExperimentStatus.STOPPED
    assert stored.verdict.startswith("stopped: superseded: v4 entered the shadow")
    assert stored.audit[-1].at == T0 + 3 * HOUR
    assert store.status(mine.name) is ExperimentStatus.RUNNING
    running = [n for n in store.names() if store.status(n) is ExperimentStatus.RUNNING]
    assert running == ["ppo_selector.global.h0@v4", mine.name]
    assert c.superseded == ["ppo_selector.global.h0@v3"]
    # the stopped candidate never gets a second one, and is not fed again
    assert c.land(_candidate(3), T0 + 4 * HOUR) is None
    assert store.status("ppo_selector.global.h0@v4") is ExperimentStatus.STOPPED
    assert len(store.names()) == 3


def test_it_observes_the_pair_from_the_candle_after_its_landing() -> None:
    store, books = MemoryExperimentStore(), Books()
    c = books.experiments(store)
    for equity in (100.0, 90.0, 120.0):  # the accounts traded before (other versions)
        books.candle(equity, equity * 2, c)
    landed_at = books.t
    c.land(_candidate(3), landed_at)
    books.candle(100.0, 200.0, c)
    books.candle(101.0, 198.0, c)
    c.finish()

    stored = store.load("ppo_selector.global.h0@v3")
    assert stored is not None
    assert [o.step for o in stored.observations] == [landed_at + HOUR, landed_at + 2 * HOUR]
    first, second = stored.observations
    assert first.values[CONTROL] == pytest.approx((100.0 / 120.0 - 1) * 1e4)
    assert first.values[TREATMENT] == pytest.approx((200.0 / 240.0 - 1) * 1e4)
    assert second.values[CONTROL] == pytest.approx(100.0)
    assert second.values[TREATMENT] == pytest.approx(-100.0)
    # drawdowns are measured from the landing on
    assert second.drawdowns[TREATMENT] == pytest.approx(1 - 198.0 / 240.0)


def test_a_production_change_stops_the_running_experiment() -> None:
    store, books = MemoryExperimentStore(), Books()
    c = books.experiments(store)
    c.land(_candidate(3), T0)
    c.production_changed("ppo_selector@5", T0 + HOUR)
    stored = store.load("ppo_selector.global.h0@v3")
    assert stored is not None and stored.status is ExperimentStatus.STOPPED
    assert "production changed to ppo_selector@5" in stored.verdict
    assert c.experiment is None
    books.candle(100.0, 100.0, c)
    books.candle(100.0, 100.0, c)  # no feed: nothing observed
    assert store.load("ppo_selector.global.h0@v3") == stored


def _run(store: ExperimentStore, candles: int, *, land_after: int = 2) -> CandidateExperiments:
    """A run: its pair's accounts from the same start, the candidate served after
    ``land_after`` candles, ``candles`` candles in all, then the run's end."""
    books = Books()
    c = books.experiments(store, seed=11)
    for i in range(candles):
        if i == land_after:
            c.land(_candidate(3), books.t)
        books.candle(100.0 + i, 100.0 + 1.5 * i - (i % 3), c)
    c.finish()
    return c


def test_it_survives_a_restart_and_never_counts_a_candle_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'qt.db'}"
    _run(SqlExperimentStore(open_database(url)), 8)
    before = SqlExperimentStore(open_database(url)).load("ppo_selector.global.h0@v3")
    assert before is not None and before.status is ExperimentStatus.RUNNING
    assert len(before.observations) == 6  # candles 2..7: those closed after the landing

    # a new process over the same database replays the same candles and four more
    store = SqlExperimentStore(open_database(url))
    c = _run(store, 12)
    assert c.created == []  # resumed, not created
    after = store.load("ppo_selector.global.h0@v3")
    assert after is not None and after.status is ExperimentStatus.RUNNING
    assert after.created_at == before.created_at
    assert after.observations[:6] == before.observations
    steps = [o.step for o in after.observations]
    assert len(steps) == 10 and steps == sorted(set(steps))
    assert [a.event for a in after.audit] == ["created", "creator"]
    assert Experiment(after, store).result.samples == 10


def test_the_same_landings_give_the_same_records() -> None:
    one, two = MemoryExperimentStore(), MemoryExperimentStore()
    _run(one, 10)
    _run(two, 10)
    assert one.names() == two.names()
    assert one.load("ppo_selector.global.h0@v3") == two.load("ppo_selector.global.h0@v3")


def test_a_candidate_needs_a_line_and_a_version() -> None:
    with pytest.raises(ValueError, match="version >= 1"):
        Candidate(LINE, 0, "x")
    store, books = MemoryExperimentStore(), Books()
    with pytest.raises(ValueError, match="handed to"):
        books.experiments(store).land(Candidate("xgb/BTCUSDT/h4", 1, "x"), T0)
    assert candidate_spec(_candidate(2)).name == "ppo_selector.global.h0@v2"


def test_a_model_line_hands_each_candidate_its_own_pair() -> None:
    line = "xgb/BTCUSDT/h4"
    store, first, second = MemoryExperimentStore(), Books(), Books()
    c = CandidateExperiments(
        store, line, first.control, first.treatment, lambda arm: arm, min_samples=2
    )
    c.land(Candidate(line, 2, "gate passed", kind="model"), T0)
    first.candle(100.0, 100.0, c)
    first.candle(100.0, 100.0, c)
    c.land(Candidate(line, 3, "gate passed", kind="model"), T0 + HOUR,
           books=(second.control, second.treatment))  # fmt: skip
    first.candle(50.0, 50.0, c)  # the old pair's candles feed nothing any more
    second.candle(100.0, 100.0, c)
    second.candle(100.0, 110.0, c)
    c.end(T0 + 5 * HOUR, "the challenger left its slots: retired")

    v3 = store.load("xgb.BTCUSDT.h4@v3")
    assert v3 is not None and v3.spec.arms[1].kind == "model"
    assert [o.values[TREATMENT] for o in v3.observations] == [pytest.approx(1000.0)]
    assert v3.status is ExperimentStatus.STOPPED and "retired" in v3.verdict
    v2 = store.load("xgb.BTCUSDT.h4@v2")
    assert v2 is not None and "superseded: v3" in v2.verdict


def test_a_candidate_whose_predecessor_left_before_the_minimum_sample_gets_none() -> None:
    """A daemon landing every 3 candles against a 5-candle minimum: the first candidate gets
    an experiment; it is superseded undecided, and the next candidates get none (counted,
    with the reason) until one stays 5 candles; then creation resumes."""
    store, books = MemoryExperimentStore(), Books()
    c = books.experiments(store, min_samples=5)
    assert c.land(_candidate(3), books.t) is not None
    for version, stay in ((4, 3), (5, 3), (6, 5), (7, 5)):
        for _ in range(stay):
            books.candle(100.0, 100.0, c)
        landed = c.land(_candidate(version), books.t)
        assert (landed is None) == (stay < 5), version
    # v4's predecessor v3 stayed 3 candles, v5's v4 stayed 3: both skipped; v5 stayed 5
    assert c.skipped == ["ppo_selector.global.h0@v4", "ppo_selector.global.h0@v5"]
    assert c.created == ["ppo_selector.global.h0@v3", "ppo_selector.global.h0@v6",
                         "ppo_selector.global.h0@v7"]  # fmt: skip
    assert c.superseded == ["ppo_selector.global.h0@v3", "ppo_selector.global.h0@v6"]
    assert "stayed 3 candles in the shadow, fewer than the 5" in c.skip_reason
    assert sorted(store.names()) == sorted(c.created)
    v3 = store.load("ppo_selector.global.h0@v3")
    assert v3 is not None and v3.status is ExperimentStatus.STOPPED
    assert v3.spec.min_samples == 5 and len(v3.observations) < 5  # stopped undecided
