"""``kill -9`` of a process feeding an experiment on SQLite: after each restart it goes on from
where the store left it, and in the end the store and the experiment are exactly those of a run
that was never interrupted.

A child process opens the (migrated) database, starts the experiment (created or resumed) and
feeds it a fixed stream of N paired observations (observation ``i`` is a pure function of ``i``),
asking for a decision unit every 10 steps. It is restartable the way a run is: it feeds every
step again from the first, relying on ``observe`` refusing the steps already stored and
``assign`` returning a unit's stored arm. It is killed four times, each run resuming from what
the last one left:

1. SIGKILL from this process once it has reported some hundreds of observations;
2. ``os._exit`` just before the INSERT of an assignment: the step's observation is committed,
   its unit is not (the process died between ``observe`` and ``assign``);
3. ``os._exit`` inside the INSERT of an observation, before its commit;

then it runs to the end. Meanwhile an uninterrupted run on a fresh database gives the
reference: every stored row, and the experiment's state (result, counts, probabilities, the
tests' readings), must be equal, bit for bit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, select

from quantum_trader.adapters.sql.database import create_db_engine, open_database
from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.adapters.sql.tables_experiments import (
    experiment_assignments,
    experiment_audit,
    experiment_observations,
    experiments,
)
from quantum_trader.experiments.experiment import Experiment

N = 2000
UNITS = N // 10  # steps 0, 10, ..., N - 10

SETUP = """
import json
import numpy as np
from quantum_trader.experiments.allocation import AllocationConfig
from quantum_trader.experiments.records import Observation
from quantum_trader.experiments.spec import ArmSpec, ExperimentSpec

N = @N@
SPEC = ExperimentSpec(
    "crash", (ArmSpec("control"), ArmSpec("treat")), horizon=N, min_samples=100,
    allocation=AllocationConfig(min_samples=50, draws=500), seed=11,
)

def observation(step):
    rng = np.random.default_rng([7, step])
    common = rng.normal(0.0, 2.0)
    values = {"control": float(common + rng.normal()), "treat": float(common + rng.normal())}
    drawdowns = {"control": float(rng.uniform(0, 0.1)), "treat": float(rng.uniform(0, 0.1))}
    return Observation(step, 1_700_000_000_000 + step * 60_000, values, drawdowns)

def state(e):
    readings = {a: t.reading() for a, t in e.tests.items()}
    return json.loads(json.dumps({
        "status": e.status.value, "verdict": e.result.verdict.value, "arm": e.result.arm,
        "summary": e.summary(), "probabilities": e.probabilities(), "counts": e.counts,
        "expected": e.expected, "last_step": e.last_step, "stopped": e.stopped,
        "allocation": [e.allocation.observations, e.allocation.withheld()],
        "readings": {a: [r.samples, r.mean, r.low, r.high, r.rejected_at]
                     for a, r in readings.items()},
        "means": {a: t.variance.mean().tolist() for a, t in e.tests.items()},
        "variances": {a: t.variance.variance().tolist() for a, t in e.tests.items()},
        "assignments": {u: [a.arm, a.probability, a.probabilities, a.version, a.at]
                        for u, a in sorted(e.assignments.items())},
    }))
""".replace("@N@", str(N))

CHILD = (
    """
import os, sys
from sqlalchemy import event
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.experiments.experiment import Experiment
"""
    + SETUP
    + """
engine = open_database(sys.argv[1])
die = sys.argv[2]  # "": run to the end; "before-assignment:K" or "in-observation:K"
where, _, nth = die.partition(":")
seen = [0]

def hook(statement, when, table):
    if where == when and statement.startswith("INSERT INTO " + table):
        seen[0] += 1
        if seen[0] == int(nth):
            print("dying", when, nth, flush=True)
            os._exit(137)

@event.listens_for(engine, "before_cursor_execute")
def before(conn, cursor, statement, parameters, context, executemany):
    hook(statement, "before-assignment", "experiment_assignments")

@event.listens_for(engine, "after_cursor_execute")
def after(conn, cursor, statement, parameters, context, executemany):
    hook(statement, "in-observation", "experiment_observations")

experiment = Experiment.start(SqlExperimentStore(engine), SPEC, 1_700_000_000_000)
print("resumed", experiment.last_step, flush=True)
for step in range(N):
    o = observation(step)
    if experiment.observe(o):
        print("observed", step, flush=True)
    if step % 10 == 0:
        experiment.assign(f"unit-{step // 10:04d}", o.at, lambda arm: arm + "@1")
print("state", json.dumps(state(experiment)), flush=True)
"""
)


def spawn(db: Path, die: str = "", output: IO[str] | None = None) -> subprocess.Popen[str]:
    """The child on ``db``; its output to a pipe, or to ``output`` (a run nobody reads while it
    goes must not stall on a full pipe)."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, f"sqlite:///{db}", die],
        stdout=subprocess.PIPE if output is None else output,
        stderr=subprocess.PIPE if output is None else subprocess.STDOUT,
        text=True,
        env=env,
    )


def run_child(db: Path, *, die: str = "", kill_after: int = 0) -> tuple[int, list[str]]:
    """Run the child until it ends or dies; its exit code and output lines. ``kill_after``:
    SIGKILL it once it has reported that many observations of this run."""
    child = spawn(db, die)
    assert child.stdout is not None
    lines: list[str] = []
    observed = 0
    try:
        for line in child.stdout:
            lines.append(line.rstrip("\n"))
            observed += line.startswith("observed ")
            if kill_after and observed == kill_after:
                os.kill(child.pid, signal.SIGKILL)
                break
        lines += [line.rstrip("\n") for line in child.stdout]  # what it wrote before it died
        code = child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    stderr = child.stderr.read() if child.stderr else ""
    child.stdout.close()
    if child.stderr:
        child.stderr.close()
    assert code in (0, 137, -signal.SIGKILL), (code, stderr[-3000:])
    return code, lines


def final_state(lines: list[str]) -> dict[str, Any]:
    states = [line for line in lines if line.startswith("state ")]
    assert len(states) == 1, lines[-5:]
    found: dict[str, Any] = json.loads(states[0].removeprefix("state "))
    return found


def rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    o, a, u = experiment_observations, experiment_assignments, experiment_audit
    with engine.connect() as conn:
        return {
            "experiments": [tuple(r) for r in conn.execute(select(experiments))],
            "observations": [tuple(r) for r in conn.execute(select(o).order_by(o.c.step))],
            "assignments": [tuple(r) for r in conn.execute(select(a).order_by(a.c.unit))],
            "audit": [
                (r.experiment, r.at, r.event, r.detail)
                for r in conn.execute(select(u).order_by(u.c.id))
            ],
        }


def stored_steps_and_units(db: Path) -> tuple[list[int], list[str]]:
    engine = create_db_engine(f"sqlite:///{db}")
    try:
        found = rows(engine)
    finally:
        engine.dispose()
    return [int(r[1]) for r in found["observations"]], [str(r[1]) for r in found["assignments"]]


def test_kill_9_while_feeding_an_experiment_loses_and_doubles_nothing(tmp_path: Path) -> None:
    reference_db, db = tmp_path / "reference.sqlite", tmp_path / "qt.sqlite"
    for path in (reference_db, db):
        open_database(f"sqlite:///{path}").dispose()
    reference_out = (tmp_path / "reference.out").open("w")
    reference = spawn(reference_db, output=reference_out)  # runs alongside the rounds below
    try:
        rounds: list[dict[str, Any]] = [
            {"kill_after": 400},
            {"die": "before-assignment:25"},
            {"die": "in-observation:180"},
        ]
        died_at: list[int] = []
        for number, how in enumerate(rounds, 1):
            code, lines = run_child(db, **how)
            assert code != 0 and not any(x.startswith("state ") for x in lines), (
                number,
                lines[-3:],
            )
            if "die" in how:
                assert lines[-1].startswith("dying"), (number, lines[-3:])
            steps, units = stored_steps_and_units(db)
            # whatever the moment of death: the steps are a gapless prefix of the stream, and the
            # units those of the stored steps (the last one may be missing: died before assign)
            assert steps == list(range(len(steps))), f"round {number}: gaps or disorder"
            expected_units = (len(steps) - 1) // 10 + 1
            assert len(units) in (expected_units - 1, expected_units), (
                number,
                len(steps),
                units[-3:],
            )
            assert units == [f"unit-{j:04d}" for j in range(len(units))]
            if how.get("die", "").startswith("before-assignment"):
                assert len(units) == expected_units - 1  # this round died between the two
            resumed_from = int(lines[0].split()[1]) if lines[0] != "resumed None" else -1
            first_new = next(int(x.split()[1]) for x in lines if x.startswith("observed"))
            assert first_new == resumed_from + 1, f"round {number}: resumed at the wrong step"
            died_at.append(len(steps))
            print(f"round {number} ({how}): {len(steps)} steps, {len(units)} units stored")
        assert died_at == sorted(died_at) and died_at[0] > 0 and died_at[-1] < N

        code, lines = run_child(db)  # to the end
        assert code == 0
        resumed = final_state(lines)
        reference.wait(timeout=120)
        out = (tmp_path / "reference.out").read_text()
        assert reference.returncode == 0, out[-3000:]
        uninterrupted = final_state(out.splitlines())
    finally:
        if reference.poll() is None:  # the test failed before it was collected
            reference.kill()
            reference.wait()
        reference_out.close()

    # the experiment ran its whole horizon (an early verdict would make this test weaker)
    assert uninterrupted["status"] == "concluded", uninterrupted["summary"]
    assert uninterrupted["verdict"] == "no difference within the horizon"
    assert uninterrupted["readings"]["treat"][0] == N
    assert resumed == uninterrupted

    engines = [create_db_engine(f"sqlite:///{p}") for p in (db, reference_db)]
    try:
        killed, clean = (rows(e) for e in engines)
        assert [r[1] for r in killed["observations"]] == list(range(N))
        assert [r[1] for r in killed["assignments"]] == [f"unit-{j:04d}" for j in range(UNITS)]
        assert killed == clean  # every row, every float, bit for bit
        # and a fresh start on the store replays to the same experiment
        namespace: dict[str, Any] = {}
        exec(SETUP, namespace)
        again = Experiment.start(SqlExperimentStore(engines[0]), namespace["SPEC"], 0)
        replayed = namespace["state"](again)
        # (a resumed *concluded* experiment repeats its verdict's head in summary(): a known bug,
        # test_experiment.py::test_a_resumed_concluded_experiment_reads_as_it_concluded)
        assert {**replayed, "summary": ""} == {**uninterrupted, "summary": ""}
    finally:
        for engine in engines:
            engine.dispose()
