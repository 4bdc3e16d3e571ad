"""A running experiment (``experiments/experiment.py``) on the memory store and on SQLite: start
and resume, observations counted once, the verdicts (winner either way, broken arm, a losing arm
stopped in a three-arm experiment, sample-ratio mismatch, no difference at the horizon, the
operator's stop), sticky assignments and the promoter."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.sql.database import create_db_engine, open_database
from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.experiments.allocation import AllocationConfig
from quantum_trader.experiments.experiment import Experiment, Result, Verdict
from quantum_trader.experiments.records import (
    Assignment,
    ExperimentStatus,
    ExperimentStore,
    MemoryExperimentStore,
    Observation,
)
from quantum_trader.experiments.spec import ArmSpec, ExperimentSpec, SpecError

MINUTE = 60_000


@dataclass
class Backend:
    """A store, and a way to open it again as a new process would (the same object for the
    memory store; a new engine on the same file for SQLite)."""

    store: ExperimentStore
    reopen: Callable[[], ExperimentStore]


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        memory = MemoryExperimentStore()
        yield Backend(memory, lambda: memory)
        return
    url = f"sqlite:///{tmp_path / 'qt.sqlite'}"
    engines: list[Engine] = [open_database(url)]

    def reopen() -> ExperimentStore:
        engines.append(create_db_engine(url))
        return SqlExperimentStore(engines[-1])

    try:
        yield Backend(SqlExperimentStore(engines[0]), reopen)
    finally:
        for engine in engines:
            engine.dispose()


def make_spec(
    name: str = "exp", arms: tuple[str, ...] = ("control", "treat"), **kw: object
) -> ExperimentSpec:
    settings: dict[str, object] = {
        "horizon": 1000,
        "min_samples": 50,
        "allocation": AllocationConfig(min_samples=30, draws=500),
    }
    settings.update(kw)
    return ExperimentSpec(name, tuple(ArmSpec(a) for a in arms), **settings)  # type: ignore[arg-type]


def stream(
    n: int, edges: Mapping[str, float], *, seed: int = 0, start: int = 0
) -> Iterator[Observation]:
    """Paired observations: a common market move plus each arm's edge and its own noise."""
    rng = np.random.default_rng(seed)
    for step in range(start, start + n):
        common = rng.normal(0.0, 2.0)
        values = {a: float(common + e + rng.normal(0.0, 1.0)) for a, e in edges.items()}
        yield Observation(step, step * MINUTE, values, dict.fromkeys(edges, 0.0))


def feed(experiment: Experiment, observations: Iterator[Observation]) -> int:
    """Observe until the experiment is over; the number of observations counted."""
    counted = 0
    for o in observations:
        if not experiment.running:
            break
        running = {a: v for a, v in o.values.items() if a in experiment.arms}
        counted += experiment.observe(replace(o, values=running))
    return counted


@dataclass
class Promoter:
    calls: list[tuple[ExperimentSpec, Result]] = field(default_factory=list)

    def __call__(self, spec: ExperimentSpec, result: Result) -> str:
        self.calls.append((spec, result))
        return f"promoted {result.arm}"


def version(arm: str) -> str:
    return f"{arm}@3"


def state(e: Experiment) -> dict[str, object]:
    """Everything a resumed experiment must have as it had it."""
    return {
        "status": e.status,
        "result": e.result,
        "summary": e.summary(),
        "probabilities": e.probabilities(),
        "counts": e.counts,
        "expected": e.expected,
        "assignments": e.assignments,
        "last_step": e.last_step,
        "stopped": e.stopped,
        "readings": {a: t.reading() for a, t in e.tests.items()},
        "allocation": (e.allocation.observations, e.allocation.withheld()),
    }


# ---------------------------------------------------------------------- start and resume
def test_start_creates_and_a_second_start_resumes_where_it_stood(backend: Backend) -> None:
    spec = make_spec()
    first = Experiment.start(backend.store, spec, 5)
    assert first.running and first.last_step is None and first.result.verdict is Verdict.NOT_YET
    assert backend.store.names() == ["exp"]
    for i, o in enumerate(stream(150, {"control": 0.0, "treat": 0.05}, seed=1)):
        assert first.observe(o)
        if i % 7 == 0:
            first.assign(f"BTCUSDT@{o.at}", o.at, version)
    assert first.running and not first.allocation.withheld()  # Thompson is on: replay matters
    assert sum(first.counts.values()) == 22

    resumed = Experiment.start(backend.reopen(), spec, 10**9)
    assert state(resumed) == state(first)
    assert resumed.created_at == 5
    # both go on alike
    for o in stream(30, {"control": 0.0, "treat": 0.05}, seed=2, start=150):
        assert first.observe(o)
    resumed = Experiment.start(backend.reopen(), spec, 0)
    assert state(resumed) == state(first)


def test_a_second_declaration_under_the_same_name_is_refused(backend: Backend) -> None:
    spec = make_spec()
    Experiment.start(backend.store, spec, 0)
    for other in (replace(spec, alpha=0.01), make_spec(arms=("control", "treat", "third"))):
        with pytest.raises(ValueError, match="exists with another spec"):
            Experiment.start(backend.store, other, 0)
    stored = backend.reopen().load("exp")
    assert stored is not None and stored.spec == spec


def test_a_step_is_counted_once(backend: Backend) -> None:
    experiment = Experiment.start(backend.store, make_spec(), 0)
    a, b, c = stream(3, {"control": 0.0, "treat": 0.0})
    assert experiment.observe(a) and experiment.observe(c)
    assert not experiment.observe(c)  # the same step again
    assert not experiment.observe(b)  # an older step, never stored: not after the last counted
    assert experiment.tests["treat"].samples == 2 and experiment.allocation.observations == 2
    # a second process on the same experiment is handed the candles again
    again = Experiment.start(backend.reopen(), make_spec(), 0)
    assert not again.observe(a) and not again.observe(c)
    assert again.tests["treat"].samples == 2
    stored = backend.reopen().load("exp")
    assert stored is not None and [o.step for o in stored.observations] == [0, 2]


def test_a_step_stored_by_another_process_is_not_counted_again(backend: Backend) -> None:
    spec = make_spec()
    here = Experiment.start(backend.store, spec, 0)
    there = Experiment.start(backend.reopen(), spec, 0)
    o = next(stream(1, {"control": 0.0, "treat": 0.0}))
    assert there.observe(o)
    assert not here.observe(o)  # the store refused it
    assert here.tests["treat"].samples == 0 and here.last_step == 0


def test_an_observation_without_a_running_arm_is_refused_and_not_stored(
    backend: Backend,
) -> None:
    experiment = Experiment.start(backend.store, make_spec(), 0)
    with pytest.raises(ValueError, match=r"step 4: no value for \['treat'\]"):
        experiment.observe(Observation(4, 0, {"control": 1.0}, {}))
    with pytest.raises(ValueError, match=r"no value for \['control'\]"):
        experiment.observe(Observation(4, 0, {"treat": 1.0, "other": 2.0}, {}))
    stored = backend.store.load("exp")
    assert stored is not None and stored.observations == []
    assert experiment.last_step is None and experiment.observe(
        Observation(4, 0, {"control": 1.0, "treat": 1.0}, {})
    )


# ---------------------------------------------------------------------- verdicts
def test_a_treatment_with_a_clear_edge_wins_and_is_promoted(backend: Backend) -> None:
    spec = make_spec()
    experiment = Experiment.start(backend.store, spec, 0)
    promoter = Promoter()
    experiment.promoter = promoter
    counted = feed(experiment, stream(1000, {"control": 0.0, "treat": 0.6}, seed=3))
    result = experiment.result
    assert result.verdict is Verdict.WINNER and result.arm == "treat"
    assert experiment.status is ExperimentStatus.CONCLUDED
    assert spec.min_samples <= counted == result.samples < spec.horizon
    reading = result.comparisons["treat"]
    assert reading.rejected and reading.low is not None and reading.low > 0.0
    assert reading.rejected_at == counted  # it concluded the moment the interval left zero
    assert len(promoter.calls) == 1 and promoter.calls[0][0] == spec
    assert promoter.calls[0][1].verdict is Verdict.WINNER and promoter.calls[0][1].arm == "treat"

    store = backend.reopen()
    stored = store.load("exp")
    assert stored is not None and stored.status is ExperimentStatus.CONCLUDED
    assert stored.verdict.startswith("winner: treat after")
    events = [(a.event, a.detail) for a in stored.audit]
    assert [e for e, _ in events] == ["created", "concluded", "promotion"]
    assert events[2][1] == "promoted treat"
    assert len(stored.observations) == counted
    # over: nothing more is taken, and a resumed one is concluded with the same verdict
    late = Observation(10_000, 0, {"control": 0.0, "treat": 1.0}, {})
    assert not experiment.observe(late)
    assert experiment.assign("ETHUSDT@1", 0, version) is None
    resumed = Experiment.start(store, spec, 0)
    resumed.promoter = promoter
    assert resumed.status is ExperimentStatus.CONCLUDED
    assert (resumed.result.verdict, resumed.result.arm) == (Verdict.WINNER, "treat")
    assert not resumed.observe(late) and len(promoter.calls) == 1


def test_a_treatment_clearly_worse_than_the_control_makes_the_control_win(
    backend: Backend,
) -> None:
    experiment = Experiment.start(backend.store, make_spec(), 0)
    promoter = Promoter()
    experiment.promoter = promoter
    counted = feed(experiment, stream(1000, {"control": 0.0, "treat": -0.6}, seed=4))
    assert experiment.result.verdict is Verdict.WINNER and experiment.result.arm == "control"
    assert experiment.status is ExperimentStatus.CONCLUDED and counted < 1000
    reading = experiment.result.comparisons["treat"]
    assert reading.high is not None and reading.high < 0.0
    assert experiment.stopped == {}  # with two arms the loser is not stopped: the control wins
    assert [c[1].arm for c in promoter.calls] == ["control"]


def _drawdowns(o: Observation, at: int, arm: str, dd: float) -> Observation:
    return replace(o, drawdowns={**o.drawdowns, arm: dd}) if o.step == at else o


def test_a_drawdown_past_the_guardrail_breaks_the_arm(backend: Backend) -> None:
    spec = make_spec(guardrails={"max_drawdown": 0.2})
    experiment = Experiment.start(backend.store, spec, 0)
    promoter = Promoter()
    experiment.promoter = promoter
    edges = {"control": 0.0, "treat": 0.0}
    observations = (_drawdowns(o, 7, "treat", 0.21) for o in stream(100, edges, seed=5))
    assert feed(experiment, observations) == 8
    result = experiment.result
    assert (result.verdict, result.arm) == (Verdict.BROKEN_ARM, "treat")
    assert "drawdown 21.0% past its guardrail 20%" in result.evidence
    assert result.stopped_arms == {"treat": "drawdown 21.0% past its guardrail 20%"}
    assert experiment.status is ExperimentStatus.CONCLUDED and promoter.calls == []
    stored = backend.reopen().load("exp")
    assert stored is not None
    assert [a.event for a in stored.audit] == ["created", "arm_stopped", "concluded"]
    assert stored.verdict.startswith("broken arm: treat after 8 paired observations")
    resumed = Experiment.start(backend.reopen(), spec, 0)
    assert (resumed.result.verdict, resumed.result.arm) == (Verdict.BROKEN_ARM, "treat")


def test_a_drawdown_at_the_guardrail_is_not_a_breach(backend: Backend) -> None:
    experiment = Experiment.start(backend.store, make_spec(guardrails={"max_drawdown": 0.2}), 0)
    observations = (
        _drawdowns(o, 3, "treat", 0.2) for o in stream(20, {"control": 0.0, "treat": 0.0})
    )
    assert feed(experiment, observations) == 20 and experiment.running


def test_in_three_arms_a_broken_treatment_stops_alone_and_a_broken_control_ends_it(
    backend: Backend,
) -> None:
    arms = ("control", "b", "c")
    edges = dict.fromkeys(arms, 0.0)
    experiment = Experiment.start(backend.store, make_spec(arms=arms), 0)
    feed(experiment, (_drawdowns(o, 3, "b", 0.5) for o in stream(10, edges, seed=6)))
    assert experiment.running and experiment.arms == ("control", "c")
    assert experiment.result.verdict is Verdict.NOT_YET
    assert set(experiment.probabilities()) == {"control", "c"}

    other = Experiment.start(backend.store, make_spec("exp2", arms=arms), 0)
    feed(other, (_drawdowns(o, 3, "control", 0.5) for o in stream(10, edges, seed=6)))
    assert (other.result.verdict, other.result.arm) == (Verdict.BROKEN_ARM, "control")
    assert other.status is ExperimentStatus.CONCLUDED


def test_in_three_arms_a_losing_treatment_is_stopped_and_its_share_goes_to_the_others(
    backend: Backend,
) -> None:
    arms = ("control", "loser", "other")
    spec = make_spec(arms=arms, allocation=AllocationConfig(kind="fixed"))
    experiment = Experiment.start(backend.store, spec, 0)
    observations = stream(1000, {"control": 0.0, "loser": -1.0, "other": 0.0}, seed=7)
    for o in observations:
        assert experiment.observe(o)
        if experiment.stopped:
            break
    assert experiment.stopped == {"loser": "lost to the control"}
    stopped_at = experiment.last_step
    assert stopped_at is not None and spec.min_samples - 1 <= stopped_at < 300
    assert experiment.running and experiment.result.verdict is Verdict.NOT_YET
    assert experiment.arms == ("control", "other")
    assert experiment.probabilities() == pytest.approx({"control": 0.5, "other": 0.5})
    assert experiment.result.stopped_arms == {"loser": "lost to the control"}
    # the stopped arm is no longer needed in an observation, nor drawn
    for o in stream(40, {"control": 0.0, "other": 0.0}, seed=8, start=stopped_at + 1):
        assert experiment.observe(o)
    units = [experiment.assign(f"u{i}", 0, version) for i in range(60)]
    assert {u.arm for u in units if u is not None} == {"control", "other"}
    assert all(u is not None and set(u.probabilities) == {"control", "other"} for u in units)
    assert experiment.tests["loser"].samples == stopped_at + 1  # its test stopped with it
    assert experiment.tests["other"].samples == stopped_at + 41
    stored = backend.reopen().load("exp")
    assert stored is not None
    assert [(a.event, a.detail) for a in stored.audit] == [
        ("created", stored.audit[0].detail),
        ("arm_stopped", "loser: lost to the control"),
    ]
    resumed = Experiment.start(backend.reopen(), spec, 0)
    assert state(resumed) == state(experiment)


def test_thompson_goes_on_over_the_arms_left_when_one_is_stopped(backend: Backend) -> None:
    """A stopped arm leaves the allocation: Thompson's minimum sample and its draws are over
    the arms left, so stopping an arm before its minimum sample does not hold the split fixed
    for ever. Here the loser is stopped after 50 observations, before the minimum of 60."""
    arms = ("control", "loser", "better")
    spec = make_spec(
        arms=arms, horizon=4000, allocation=AllocationConfig(min_samples=60, draws=500)
    )
    experiment = Experiment.start(backend.store, spec, 0)
    edges = {"control": 0.0, "loser": -1.5, "better": 0.1}
    feed(experiment, stream(400, edges, seed=4))
    assert experiment.stopped == {"loser": "lost to the control"}
    assert experiment.running, experiment.result.summary()  # "better" has not won yet
    # every running arm has 400 observations, far past Thompson's minimum of 60
    assert not experiment.allocation.withheld(), (
        "Thompson is withheld for ever because the "
        f"stopped arm's weight {experiment.allocation._w.round(1)} stays under min_samples"
    )
    assert experiment.probabilities() != pytest.approx({"control": 0.5, "better": 0.5})


def test_a_sample_ratio_mismatch_ends_the_experiment(backend: Backend) -> None:
    experiment = Experiment.start(backend.store, make_spec(), 0)
    half = {"control": 0.5, "treat": 0.5}
    recorded = 0
    for i in range(100):
        if not experiment.running:
            break
        assert experiment.record(Assignment(f"u{i}", "control", 0.5, half, "v1", i))
        recorded += 1
    assert recorded == 20  # the first moment the check may speak, it does
    result = experiment.result
    assert result.verdict is Verdict.MISMATCH and result.arm is None
    assert result.srm.alarm and result.srm.p_value is not None and result.srm.p_value < 0.001
    assert experiment.status is ExperimentStatus.CONCLUDED
    stored = backend.reopen().load("exp")
    assert stored is not None and len(stored.assignments) == 20
    assert [a.event for a in stored.audit] == ["created", "concluded"]
    assert stored.verdict.startswith("sample ratio mismatch after 0 paired observations")
    resumed = Experiment.start(backend.reopen(), make_spec(), 0)
    assert resumed.result.verdict is Verdict.MISMATCH and not resumed.running


def test_a_fair_sequence_of_assignments_raises_no_alarm(backend: Backend) -> None:
    experiment = Experiment.start(backend.store, make_spec(), 0)
    for i in range(400):
        assert experiment.assign(f"u{i}", i, version) is not None
    assert experiment.running and experiment.result.srm.p_value is not None
    assert not experiment.result.srm.alarm
    assert experiment.expected == pytest.approx({"control": 200.0, "treat": 200.0})
    assert 160 < experiment.counts["control"] < 240


def test_no_difference_at_the_horizon(backend: Backend) -> None:
    spec = make_spec(horizon=300)
    experiment = Experiment.start(backend.store, spec, 0)
    promoter = Promoter()
    experiment.promoter = promoter
    counted = feed(experiment, stream(400, {"control": 0.0, "treat": 0.0}, seed=10))
    assert counted == 300 and experiment.last_step == 299
    assert experiment.result.verdict is Verdict.NO_DIFFERENCE and experiment.result.arm is None
    assert experiment.status is ExperimentStatus.CONCLUDED and promoter.calls == []
    reading = experiment.result.comparisons["treat"]
    assert reading.low is not None and reading.high is not None
    assert reading.low < 0.0 < reading.high and not reading.rejected
    resumed = Experiment.start(backend.reopen(), spec, 0)
    assert resumed.result.verdict is Verdict.NO_DIFFERENCE and not resumed.running


def test_the_operators_stop(backend: Backend) -> None:
    spec = make_spec()
    experiment = Experiment.start(backend.store, spec, 0)
    elsewhere = Experiment.start(backend.reopen(), spec, 0)  # a run feeding it meanwhile
    observations = stream(100, {"control": 0.0, "treat": 0.0}, seed=11)
    for _ in range(60):
        experiment.observe(next(observations))
    kept = experiment.assign("BTCUSDT@1", 0, version)
    assert kept is not None
    experiment.stop(61 * MINUTE, "enough")
    assert experiment.status is ExperimentStatus.STOPPED and not experiment.running
    assert experiment.result.verdict is Verdict.STOPPED
    assert experiment.result.samples == 60
    assert not experiment.observe(next(observations))
    assert experiment.assign("BTCUSDT@2", 0, version) is None
    assert experiment.assign("BTCUSDT@1", 0, version) == kept  # an old unit keeps its arm
    with pytest.raises(ValueError, match="already stopped"):
        experiment.stop(0, "again")
    stored = backend.reopen().load("exp")
    assert stored is not None and stored.status is ExperimentStatus.STOPPED
    assert len(stored.observations) == 60 and stored.verdict.startswith("stopped: enough")
    assert [(a.event, a.detail) for a in stored.audit][1:] == [("stopped", "enough")]
    # the run feeding it sees the stop
    before = elsewhere.running
    assert elsewhere.refresh()
    assert (before, elsewhere.running) == (True, False)
    assert elsewhere.result.verdict is Verdict.STOPPED and not elsewhere.refresh()
    resumed = Experiment.start(backend.reopen(), spec, 0)
    assert resumed.status is ExperimentStatus.STOPPED
    assert resumed.result.verdict is Verdict.STOPPED and resumed.result.samples == 60


def test_a_stopped_experiment_records_no_more_assignments(backend: Backend) -> None:
    """After the operator's stop no assignment is recorded or counted (as none is drawn)."""
    experiment = Experiment.start(backend.store, make_spec(), 0)
    experiment.stop(0, "enough")
    late = Assignment("u1", "treat", 0.5, {"control": 0.5, "treat": 0.5}, "v1", 1)
    recorded = experiment.record(late)
    stored = backend.store.load("exp")
    assert stored is not None
    assert (recorded, stored.assignments, experiment.result.verdict) == (
        False,
        [],
        Verdict.STOPPED,
    ), "an assignment was stored and counted after stop()"


@pytest.mark.parametrize("edge", [0.6, 0.0], ids=["winner", "no-difference"])
def test_a_resumed_concluded_experiment_reads_as_it_concluded(
    backend: Backend, edge: float
) -> None:
    """A resumed concluded experiment reads exactly as it did when it concluded (its records
    give the same verdict again; the stored verdict text is not folded into the evidence)."""
    spec = make_spec(horizon=300)
    experiment = Experiment.start(backend.store, spec, 0)
    feed(experiment, stream(400, {"control": 0.0, "treat": edge}, seed=3))
    assert experiment.status is ExperimentStatus.CONCLUDED
    resumed = Experiment.start(backend.reopen(), spec, 0)
    assert (resumed.result.verdict, resumed.result.arm) == (
        experiment.result.verdict,
        experiment.result.arm,
    )
    assert resumed.result.summary() == experiment.result.summary(), (
        f"the resumed result's summary is {resumed.result.summary()[:160]!r}..."
    )
    assert state(resumed) == state(experiment)


# ---------------------------------------------------------------------- assignments
def test_an_assignment_is_drawn_once_per_unit_and_kept(backend: Backend) -> None:
    spec = make_spec(allocation=AllocationConfig(kind="fixed", weights=(1.0, 3.0)))
    experiment = Experiment.start(backend.store, spec, 0)
    versions: list[str] = []

    def track(arm: str) -> str:
        versions.append(arm)
        return f"{arm}@{len(versions)}"

    first = experiment.assign("BTCUSDT@1000", 1000, track)
    assert first is not None and first.unit == "BTCUSDT@1000" and first.at == 1000
    assert first.probabilities == pytest.approx({"control": 0.25, "treat": 0.75})
    assert first.probability == first.probabilities[first.arm]
    assert first.version == f"{first.arm}@1" and versions == [first.arm]
    assert experiment.assign("BTCUSDT@1000", 9999, track) is first  # re-asked: the same
    assert versions == [first.arm]  # no new draw, no new version asked
    assert experiment.counts[first.arm] == 1 and sum(experiment.counts.values()) == 1
    stored = backend.reopen().load("exp")
    assert stored is not None and stored.assignments == [first]
    resumed = Experiment.start(backend.reopen(), spec, 0)
    assert resumed.assign("BTCUSDT@1000", 5, track) == first and versions == [first.arm]
    assert not resumed.record(replace(first, arm="control" if first.arm == "treat" else "treat"))
    assert resumed.counts == experiment.counts


def test_an_assignment_takes_the_probabilities_of_its_moment(backend: Backend) -> None:
    experiment = Experiment.start(backend.store, make_spec(), 0)
    early = experiment.assign("u-early", 0, version)
    assert early is not None and early.probabilities == {"control": 0.5, "treat": 0.5}
    feed(experiment, stream(120, {"control": 0.0, "treat": 0.25}, seed=12))
    assert experiment.running
    late = experiment.assign("u-late", 0, version)
    assert late is not None and late.probabilities == experiment.probabilities()
    assert late.probabilities["treat"] > 0.75  # Thompson moved on from the even split
    assert experiment.assign("u-early", 0, version) == early  # the early unit kept its draw
    assert experiment.expected == pytest.approx(
        {a: early.probabilities[a] + late.probabilities[a] for a in ("control", "treat")}
    )


# ---------------------------------------------------------------------- crash windows
class _Killed(BaseException):
    """The process dies here (not an Exception: nothing may catch it)."""


class DiesOnConclusion(MemoryExperimentStore):
    """A store whose process dies at the moment it would write the verdict: the concluding
    observation is stored, the status is not. ``dead = False``: the restarted process."""

    dead = True

    def set_status(self, name: str, status: ExperimentStatus, verdict: str, at: int) -> None:
        if self.dead:
            raise _Killed
        super().set_status(name, status, verdict, at)


def test_a_crash_between_the_concluding_observation_and_its_verdict_still_concludes() -> None:
    """A process killed after the deciding observation was stored but before its verdict was:
    the restarted experiment concludes at once, as the uninterrupted run did at that step, and
    counts nothing after it."""
    spec = make_spec()
    edges = {"control": 0.0, "treat": 0.6}
    reference = Experiment.start(MemoryExperimentStore(), spec, 0)
    feed(reference, stream(1000, edges, seed=3))
    assert reference.result.verdict is Verdict.WINNER
    concluded_at = reference.last_step
    assert concluded_at is not None

    store = DiesOnConclusion()
    dying = Experiment.start(store, spec, 0)
    with pytest.raises(_Killed):
        feed(dying, stream(1000, edges, seed=3))
    store.dead = False  # the process restarts on what was stored
    resumed = Experiment.start(store, spec, 0)
    assert resumed.result.verdict is Verdict.WINNER and resumed.last_step == concluded_at
    status = resumed.status
    next_step = next(stream(1, edges, seed=99, start=concluded_at + 1))
    counted = resumed.observe(next_step)
    stored = store.load("exp")
    assert stored is not None
    assert (status, counted, len(stored.observations)) == (
        ExperimentStatus.CONCLUDED,
        False,
        concluded_at + 1,
    ), (
        "resumed with a verdict in its stored "
        f"observations but status {status.value}; then it counted step {concluded_at + 1}: "
        f"{counted}"
    )


def test_a_spec_that_cannot_run_leaves_nothing_in_the_store(backend: Backend) -> None:
    """An allocation that cannot fit the arms is refused when the spec is declared, before
    anything reaches the store (the name stays free)."""
    with pytest.raises(SpecError, match="allocation weights"):
        make_spec(allocation=AllocationConfig(weights=(1.0, 1.0, 1.0)))
    assert backend.reopen().names() == []
    Experiment.start(backend.store, make_spec(), 0)  # the name is free
    assert backend.reopen().names() == ["exp"]
