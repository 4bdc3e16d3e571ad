"""``/metrics``' challenger series (issue 20) over a database a real shadow evaluator wrote: its
status counters flushed as the engine flushes them, its state saved as the run's stop saves it;
each sample the value the evaluator holds, labelled by the version and its stage."""

from __future__ import annotations

import itertools
import json
import math

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.api.metrics_models import ModelSeries
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.learning.challenger import Challenge, WatchedMember
from quantum_trader.learning.shadow import ShadowEvaluator
from quantum_trader.models.ensemble.ensemble import VOTE_TIME_BOUNDS_NS
from quantum_trader.status.registry import StatusRegistry
from tests.api.conftest import START_MS, start_run
from tests.intelligence.calibration_cases import direct, votes
from tests.learning.test_challenger_figures import Scripted, drive
from tests.learning.test_rollout import BASE, HORIZON, LINE, TF, Fake

RUN = "r2"
VERSION = ("model", "xgb"), ("scope", "BTCUSDT"), ("horizon", "4")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(client: TestClient, bearer: dict[str, str]) -> Samples:
    text = client.get("/metrics", headers=bearer).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("qt_challenger_")
    }


def collected(engine: Engine) -> Samples:
    """A fresh read of the series (the app's keeps its answer 5 s: a second scrape in a test
    would read the first answer again)."""
    scrapes = itertools.count(0, 10)
    series = ModelSeries(engine, SimulatedClock(START_MS), monotonic=scrapes.__next__)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in series.collect()
        for s in family.samples
        if s.name.startswith("qt_challenger_")
    }


def labelled(version: int, stage: str, *more: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted([*VERSION, ("version", str(version)), ("stage", stage), *more]))


def test_a_challengers_vote_time_and_live_calibration_are_the_evaluators(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    start_run(sqlite_engine, RUN, START_MS)
    status = StatusRegistry(SimulatedClock(START_MS), SqlStatusRepository(sqlite_engine), RUN)
    evaluator = ShadowEvaluator(
        HORIZON, TF, handle=status.register("shadow_models", enabled=True, reason="test")
    )
    slot = WatchedMember(Fake(lambda t: BASE), 1, LINE, evaluator)
    probs, labels = votes(9, 40)
    evaluator.start_challenge(LINE, 2, 0.0)
    slot.challenge = Challenge(Scripted(probs, seconds=0.002), 2, 0.0)
    drive(evaluator, slot, 0, len(labels), labels)
    status.flush()
    got = samples(client, bearer)
    shadow = labelled(2, "SHADOW")
    latencies = list(evaluator.watch(LINE).latencies_ns)
    assert got[("qt_challenger_vote_seconds_count", shadow)] == len(latencies) == 40
    assert got[("qt_challenger_vote_seconds_sum", shadow)] == pytest.approx(sum(latencies) / 1e9)
    assert got[("qt_challenger_vote_seconds_sum", shadow)] >= 40 * 0.002  # seconds, not ns
    buckets = {
        float(dict(pairs)["le"]): value
        for (name, pairs), value in got.items()
        if name == "qt_challenger_vote_seconds_bucket"
    }
    assert sorted(buckets) == [b / 1e9 for b in VOTE_TIME_BOUNDS_NS] + [math.inf]
    for bound in VOTE_TIME_BOUNDS_NS:  # cumulative: the votes at most that long
        assert buckets[bound / 1e9] == sum(1 for ns in latencies if ns <= bound)
    assert buckets[math.inf] == 40
    # the run has not stopped: no saved state, no live calibration yet
    assert not [k for k in got if k[0] == "qt_challenger_live_calibration"]
    # a canary step, then the run stops and saves the evaluator's state
    evaluator.start_challenge(LINE, 2, 0.25)
    slot.challenge = Challenge(Scripted(probs[:5]), 2, 0.25)
    drive(evaluator, slot, 40, 45, labels)
    status.flush()
    repo = SqlIntelligenceStateRepository(sqlite_engine)
    repo.save(f"shadow/{RUN}", json.dumps(evaluator.to_state()), START_MS)
    got = collected(sqlite_engine)
    canary = labelled(2, "CANARY")
    assert got[("qt_challenger_vote_seconds_count", canary)] == 45
    assert not [k for k in got if dict(k[1]).get("stage") == "SHADOW"]
    live = {
        labels["metric"]: value
        for (name, pairs), value in got.items()
        if name == "qt_challenger_live_calibration"
        for labels in [dict(pairs)]
    }
    assert {k[1] for k in got if k[0] == "qt_challenger_live_calibration"} == {
        labelled(2, "CANARY", ("symbol", "BTCUSDT"), ("metric", m))
        for m in ("ece", "brier", "log_loss")
    }
    matured = 45 - HORIZON  # bar t resolves at bar t + HORIZON
    seen = probs + probs[:5]
    want = direct(seen[:matured], labels[:matured] + [0] * max(0, matured - 40), 0.95)
    assert live == pytest.approx({m: want[m] for m in ("ece", "brier", "log_loss")}, rel=1e-9)
    # the challenge ends: its series go with it
    evaluator.end_challenge(LINE)
    status.flush()
    repo.save(f"shadow/{RUN}", json.dumps(evaluator.to_state()), START_MS + 1)
    assert collected(sqlite_engine) == {}


def test_a_state_saved_before_the_figures_existed_has_no_challenger_samples(
    sqlite_engine: Engine,
) -> None:
    start_run(sqlite_engine, RUN, START_MS)
    evaluator = ShadowEvaluator(HORIZON, TF)
    evaluator.start_challenge(LINE, 2, 0.0)
    state = evaluator.to_state()
    del state["challengers"]
    SqlIntelligenceStateRepository(sqlite_engine).save(f"shadow/{RUN}", json.dumps(state), 0)
    series = ModelSeries(sqlite_engine, SimulatedClock(START_MS))
    families = {f.name: f for f in series.collect()}
    assert families["qt_challenger_vote_seconds"].type == "histogram"
    assert not families["qt_challenger_vote_seconds"].samples
    assert not families["qt_challenger_live_calibration"].samples
