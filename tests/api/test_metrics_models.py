"""``/metrics``' per-model series over a database with known rows: parsed by
prometheus_client's parser, each sample the value the rows give, and nothing of another run,
of a version out of production or of a validation superseded by a newer one."""

from __future__ import annotations

import itertools
import json
import math
import time
from typing import TypeVar

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from quantum_trader.adapters.sql.event_outbox import EventOutboxWriter
from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.api.metrics_models import ModelSeries
from quantum_trader.bus.codec import Topic
from quantum_trader.bus.topics import MODEL_COVARIATE_SHIFT, MODEL_DRIFT_DETECTED
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.events import (
    CovariateShift,
    DriftDetected,
    ShiftAction,
    ShiftEvidence,
    ShiftState,
)
from quantum_trader.domain.signals import ModelVote
from quantum_trader.evaluation.ledger import Trial
from quantum_trader.intelligence.detector import CusumConfig, CusumDetector
from quantum_trader.intelligence.drift import DriftConfig, DriftMonitor
from quantum_trader.intelligence.ledger import Prediction, ResolvedPrediction
from quantum_trader.intelligence.reinforcement import Reinforcement, ReinforcementConfig
from quantum_trader.learning.lineage import POLICY_KIND, Lineage
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.models.base import ModelMetadata
from quantum_trader.models.ensemble import Abstention, Ensemble, EnsembleConfig, VoteContext
from quantum_trader.models.ensemble.ensemble import VOTE_TIME_BOUNDS_NS, vote_bucket_counter
from quantum_trader.status.registry import StatusRegistry
from tests.api.conftest import START_MS, start_run
from tests.intelligence.calibration_cases import direct, votes

R = TypeVar("R")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
RUN = "r2"
HOUR = 3_600_000
LINE = ModelKey("xgb", "BTCUSDT", 4)


def samples(client: TestClient, bearer: dict[str, str]) -> Samples:
    text = client.get("/metrics", headers=bearer).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("qt_model_")
    }


def publish(writer: EventOutboxWriter, topic: Topic[R], record: R, at: int) -> None:
    payload = topic.encode(record)
    writer.record(topic.name, at, "test", tuple(payload), tuple(payload.values()))


def drift(model: str, symbol: str, at: int, statistic: float) -> DriftDetected:
    return DriftDetected(model, symbol, "cusum", "mean_up", statistic, 10.0, 250, 50, 1.0, 0.2,
                         at, at - 4 * HOUR)  # fmt: skip


def shift(model: str, symbol: str, state: ShiftState, at: int) -> CovariateShift:
    evidence = (ShiftEvidence("ret_1", 0.4, 0.3, 0.001),)
    return CovariateShift(model, symbol, state, ("ret_1",), evidence, 0.9, 0.5, 1.8, 300,
                          ShiftAction.DOWN_WEIGHT, 0.5, at)  # fmt: skip


def seed_events(engine: Engine) -> None:
    """Two runs' events: the older run's must not count."""
    start_run(engine, "r1", START_MS)
    old = EventOutboxWriter(engine, "r1")
    publish(old, MODEL_DRIFT_DETECTED, drift("xgb", "BTCUSDT", START_MS, 11.0), START_MS)
    old.flush()
    start_run(engine, RUN, START_MS + HOUR)
    new = EventOutboxWriter(engine, RUN)
    drifted = [("xgb", "BTCUSDT"), ("xgb", "BTCUSDT"), ("nhits", "ETHUSDT")]
    for n, (model, symbol) in enumerate(drifted):
        at = START_MS + (n + 2) * HOUR
        publish(new, MODEL_DRIFT_DETECTED, drift(model, symbol, at, 10.5 + n), at)
    shifts = [("xgb", ShiftState.STARTED), ("lgbm", ShiftState.STARTED), ("lgbm", ShiftState.ENDED)]
    for n, (model, state) in enumerate(shifts):
        at = START_MS + (n + 6) * HOUR
        publish(new, MODEL_COVARIATE_SHIFT, shift(model, "BTCUSDT", state, at), at)
    new.flush()


def test_drift_and_shift_series_are_the_last_runs_events(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    seed_events(sqlite_engine)
    got = samples(client, bearer)
    xgb, nhits = (
        (("model", "xgb"), ("symbol", "BTCUSDT")),
        (("model", "nhits"), ("symbol", "ETHUSDT")),
    )
    assert got[("qt_model_drift_events", xgb)] == 2  # r1's third is another run's
    assert got[("qt_model_drift_events", nhits)] == 1
    assert got[("qt_model_drift_last_event_timestamp_seconds", xgb)] == (START_MS + 3 * HOUR) / 1000
    assert got[("qt_model_covariate_shifted", xgb)] == 1
    assert got[("qt_model_covariate_shifted", (("model", "lgbm"), ("symbol", "BTCUSDT")))] == 0
    # r2 has not stopped: no saved state
    saved = ("qt_model_drift_statistic", "qt_model_recent_log_loss", "qt_model_live_calibration")
    assert not [k for k in got if k[0] in saved]


def test_drift_statistic_and_recent_log_loss_are_the_stopped_runs_saved_state(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    start_run(sqlite_engine, RUN, START_MS)
    config = CusumConfig(warmup=10, direction="up")
    monitor = DriftMonitor(None, DriftConfig(detector=config))
    reinforcement = Reinforcement(ReinforcementConfig(discount=0.9))
    # p(realised class): a reference of ten, then two worse (higher losses, below an alarm)
    expected = CusumDetector(config)
    losses = []
    for n, p in enumerate([0.5, 0.4] * 5 + [0.3, 0.3]):
        probs = (0.1, p, 0.9 - p)
        outcome = ResolvedPrediction(Prediction("BTCUSDT", "lgbm", probs, n, n + 1), 1, n + 1)
        monitor.on_outcome(outcome)
        reinforcement.on_outcome(outcome)
        assert expected.update(outcome.loss) is None
        losses.append(-math.log(p))
    assert expected.statistic > 1.0
    repo = SqlIntelligenceStateRepository(sqlite_engine)
    for module, part in (("drift_detection", monitor), ("reinforcement", reinforcement)):
        repo.save(f"intelligence/{RUN}/{module}", json.dumps(part.to_state()), START_MS)
    got = samples(client, bearer)
    pair = (("model", "lgbm"), ("symbol", "BTCUSDT"))
    assert got[("qt_model_drift_statistic", pair)] == expected.statistic
    ages = range(len(losses) - 1, -1, -1)  # the newest loss weighs 0.9 ** 0
    mean = sum(0.9**a * x for a, x in zip(ages, losses, strict=True)) / sum(0.9**a for a in ages)
    assert got[("qt_model_recent_log_loss", pair)] == pytest.approx(mean, rel=1e-12)


def live_calibration(got: Samples) -> dict[tuple[str, str, str], float]:
    return {
        (labels["model"], labels["symbol"], labels["metric"]): value
        for (name, pairs), value in got.items()
        if name == "qt_model_live_calibration"
        for labels in [dict(pairs)]
    }


def test_live_calibration_is_each_pairs_discounted_figures_on_its_matured_labels(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    start_run(sqlite_engine, RUN, START_MS)
    reinforcement = Reinforcement(ReinforcementConfig(discount=0.9))
    streams = {("lgbm", "BTCUSDT"): votes(20, 50), ("xgb", "ETHUSDT"): votes(21, 30)}
    for (model, symbol), (probs, labels) in streams.items():
        reinforcement.on_outcomes([
            ResolvedPrediction(Prediction(symbol, model, q, n, n + 1), label, n + 1)
            for n, (q, label) in enumerate(zip(probs, labels, strict=True))
        ])  # fmt: skip
    key = f"intelligence/{RUN}/reinforcement"
    repo = SqlIntelligenceStateRepository(sqlite_engine)
    repo.save(key, json.dumps(reinforcement.to_state()), START_MS)
    got = samples(client, bearer)
    live = live_calibration(got)
    assert set(live) == {(m, s, f) for m, s in streams for f in ("ece", "brier", "log_loss")}
    for (model, symbol), (probs, labels) in streams.items():
        want = direct(probs, labels, 0.9)
        for metric in ("ece", "brier", "log_loss"):
            assert live[(model, symbol, metric)] == pytest.approx(want[metric], rel=1e-9)
        pair = (("model", model), ("symbol", symbol))
        recent = got[("qt_model_recent_log_loss", pair)]
        assert live[(model, symbol, "log_loss")] == pytest.approx(recent, rel=1e-12)
    # a state saved before the live calibration existed: the recent log-loss, no live figures
    repo.save(key, json.dumps({"members": reinforcement.to_state()["members"]}), START_MS + 1)
    scrapes = itertools.count(0, 10)  # each read 10 s after the last: never the cached answer
    series = ModelSeries(sqlite_engine, SimulatedClock(START_MS), monotonic=scrapes.__next__)
    families = {f.name: f for f in series.collect()}
    assert not families["qt_model_live_calibration"].samples
    assert len(families["qt_model_recent_log_loss"].samples) == 2


def register(registry: ModelRegistry, metrics: dict[str, float]) -> int:
    meta = ModelMetadata("xgb", "1", "BTCUSDT", 4, ("ret_1",), metrics=metrics)
    return registry.register(meta, "hash", actor="test", reason="trained").version


def validation(name: str, ece: float, at: int) -> Trial:
    metrics = {"candidate_ece": ece, "candidate_brier": 0.61, "candidate_log_loss": 1.02,
               "champion_ece": 0.5, "passed": 1.0}  # fmt: skip
    return Trial("validation", name, "c" * 64, "test", ("BTCUSDT",), "1h", 0, HOUR, 7, metrics,
                 None, 0, at, RUN)  # fmt: skip


def test_calibration_is_the_production_versions_held_out_and_validation_figures(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    registry = ModelRegistry(SqlRegistryRepository(sqlite_engine), SimulatedClock(START_MS))
    register(registry, {"holdout_ece": 0.9, "holdout_brier": 0.9, "holdout_log_loss": 0.9})
    held_out = {"holdout_ece": 0.031, "holdout_brier": 0.62, "holdout_log_loss": 1.05,
                "holdout_ece_raw": 0.074, "train_ece": 0.01}  # fmt: skip
    version = register(registry, held_out)
    registry.promote(LINE, version, actor="test", reason="passed", to=Stage.PRODUCTION)
    policy = Lineage(POLICY_KIND, "ppo_selector", "BTCUSDT", 0, metrics={"holdout_ece": 0.2})
    registry.register(policy, "hash", actor="test", reason="trained")
    registry.promote(ModelKey("ppo_selector", "BTCUSDT", 0), 1, actor="t", reason="r",
                     to=Stage.PRODUCTION)  # fmt: skip
    ledger = SqlTrialLedger(sqlite_engine)
    ledger.record(validation(f"{LINE}@v{version}", 0.08, START_MS))
    ledger.record(validation(f"{LINE}@v{version}", 0.045, START_MS + HOUR))  # the newest wins
    ledger.record(validation(f"{LINE}@v1", 0.3, START_MS + 2 * HOUR))  # not in production
    got = samples(client, bearer)
    calibration = {
        (labels["metric"], labels["sample"]): value
        for (name, pairs), value in got.items()
        if name == "qt_model_calibration"
        for labels in [dict(pairs)]
        if labels["model"] == "xgb" and labels["version"] == str(version)
        and labels["scope"] == "BTCUSDT" and labels["horizon"] == "4"
    }  # fmt: skip
    assert calibration == {
        ("ece", "holdout"): 0.031,
        ("brier", "holdout"): 0.62,
        ("log_loss", "holdout"): 1.05,
        ("ece", "holdout_raw"): 0.074,
        ("ece", "validation"): 0.045,
        ("brier", "validation"): 0.61,
        ("log_loss", "validation"): 1.02,
    }
    # one sample set: only the production version of the model line, no policy's
    assert len([k for k in got if k[0] == "qt_model_calibration"]) == len(calibration)


def calibration_by_version(got: Samples) -> dict[tuple[str, str], dict[tuple[str, str], float]]:
    """xgb/BTCUSDT/h4's calibration samples: (version, stage) → (metric, sample) → value."""
    out: dict[tuple[str, str], dict[tuple[str, str], float]] = {}
    for (name, pairs), value in got.items():
        labels = dict(pairs)
        if name == "qt_model_calibration" and labels["model"] == "xgb":
            by = out.setdefault((labels["version"], labels["stage"]), {})
            by[(labels["metric"], labels["sample"])] = value
    return out


def test_calibration_has_the_challengers_figures_labelled_by_stage(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    registry = ModelRegistry(SqlRegistryRepository(sqlite_engine), SimulatedClock(START_MS))
    champion = register(registry, {"holdout_ece": 0.03, "holdout_brier": 0.6})
    registry.promote(LINE, champion, actor="test", reason="passed", to=Stage.PRODUCTION)
    shadow = register(registry, {"holdout_ece": 0.021, "holdout_log_loss": 1.01})
    registry.promote(LINE, shadow, actor="test", reason="challenger", to=Stage.SHADOW)
    canary = register(registry, {"holdout_brier": 0.58})
    registry.promote(LINE, canary, actor="test", reason="challenger", to=Stage.CANARY)
    register(registry, {"holdout_ece": 0.5})  # a candidate not serving: none of its figures
    retired = register(registry, {"holdout_ece": 0.7})
    registry.promote(LINE, retired, actor="test", reason="old", to=Stage.RETIRED)
    ledger = SqlTrialLedger(sqlite_engine)
    ledger.record(validation(f"{LINE}@v{shadow}", 0.04, START_MS))
    by_version = calibration_by_version(samples(client, bearer))
    assert by_version == {
        (str(champion), "PRODUCTION"): {("ece", "holdout"): 0.03, ("brier", "holdout"): 0.6},
        (str(shadow), "SHADOW"): {
            ("ece", "holdout"): 0.021,
            ("log_loss", "holdout"): 1.01,
            ("ece", "validation"): 0.04,
            ("brier", "validation"): 0.61,
            ("log_loss", "validation"): 1.02,
        },
        (str(canary), "CANARY"): {("brier", "holdout"): 0.58},
    }
    # the challenger wins: it is production now, the old champion out of the figures
    registry.promote(LINE, shadow, actor="test", reason="passed", to=Stage.PRODUCTION)
    scrapes = itertools.count(0, 10)  # each read 10 s after the last: never the cached answer
    series = ModelSeries(sqlite_engine, SimulatedClock(START_MS), monotonic=scrapes.__next__)
    stages = {
        (sample.labels["version"], sample.labels["stage"])
        for family in series.collect()
        if family.name == "qt_model_calibration"
        for sample in family.samples
    }
    assert stages == {(str(shadow), "PRODUCTION"), (str(canary), "CANARY")}


class SlowMember:
    """A member whose every vote takes at least ``seconds``."""

    def __init__(self, name: str, seconds: float) -> None:
        self.name = name
        self._seconds = seconds

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        time.sleep(self._seconds)
        return ModelVote(self.name, 0.2, 0.3, 0.5)


def test_vote_time_counts_every_live_vote_of_each_member(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    clock = SimulatedClock(START_MS)
    status = StatusRegistry(clock, SqlStatusRepository(sqlite_engine), RUN)
    handle = status.register("ensemble", enabled=True, reason="test")
    members = [SlowMember("xgb", 0.002), SlowMember("nhits", 0.0)]
    ensemble = Ensemble(EnsembleConfig(("xgb", "nhits"), 1, 0.4), members, handle=handle)
    for n in range(5):
        ensemble.decide("BTCUSDT", VoteContext(time=START_MS + n))
    status.flush()
    got = samples(client, bearer)
    xgb, nhits = (("model", "xgb"),), (("model", "nhits"),)
    assert got[("qt_model_vote_seconds_count", xgb)] == 5
    assert got[("qt_model_vote_seconds_count", nhits)] == 5
    assert 5 * 0.002 <= got[("qt_model_vote_seconds_sum", xgb)] < 5.0  # seconds, not ns
    assert got[("qt_model_vote_seconds_sum", nhits)] < got[("qt_model_vote_seconds_sum", xgb)]
    for model in ("xgb", "nhits"):
        buckets = [
            (float(dict(pairs)["le"]), value)
            for (name, pairs), value in got.items()
            if name == "qt_model_vote_seconds_bucket" and dict(pairs)["model"] == model
        ]
        bounds = [le for le, _ in sorted(buckets)]
        assert bounds == [b / 1e9 for b in VOTE_TIME_BOUNDS_NS] + [math.inf]
        counts = [n for _, n in sorted(buckets)]
        assert counts == sorted(counts)  # cumulative
        assert counts[-1] == 5  # +Inf: every live vote
    # each vote bumped at most one bucket counter of its member: none above the last bound
    # (100 ms) for nhits' instant votes, so all five are in its buckets
    counters = handle.status.counters
    for model in ("xgb", "nhits"):
        counted = sum(counters.get(vote_bucket_counter(b, model), 0) for b in VOTE_TIME_BOUNDS_NS)
        assert counted <= 5
        assert got[("qt_model_vote_seconds_bucket", (("le", "0.1"), ("model", model)))] == counted
    assert got[("qt_model_vote_seconds_bucket", (("le", "0.1"), ("model", "nhits")))] == 5
    # xgb's votes all took over 2 ms: none in a bucket below
    xgb_buckets = {b: counters.get(vote_bucket_counter(b, "xgb"), 0) for b in VOTE_TIME_BOUNDS_NS}
    assert not [b for b, n in xgb_buckets.items() if n and b < 2_000_000]
    assert got[("qt_model_vote_seconds_bucket", (("le", "0.001"), ("model", "xgb")))] == 0


def test_vote_time_histogram_sums_the_ensembles_bucket_counters_upwards(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    statuses = StatusRegistry(SimulatedClock(START_MS), SqlStatusRepository(sqlite_engine), RUN)
    handle = statuses.register("ensemble", enabled=True, reason="test")
    # 10 votes: 4 at most 50 µs, 3 in (1 ms, 2.5 ms], 2 in (50 ms, 100 ms], 1 above 100 ms
    handle.count("live_votes.lgbm", 10)
    handle.count("live_vote_ns.lgbm", 400_000_000)
    for bound, n in ((50_000, 4), (2_500_000, 3), (100_000_000, 2)):
        handle.count(vote_bucket_counter(bound, "lgbm"), n)
    statuses.flush()
    got = samples(client, bearer)
    buckets = {
        dict(pairs)["le"]: value
        for (name, pairs), value in got.items()
        if name == "qt_model_vote_seconds_bucket"
    }
    below = {b: sum(n for at, n in ((50_000, 4), (2_500_000, 3), (100_000_000, 2)) if at <= b)
             for b in VOTE_TIME_BOUNDS_NS}  # fmt: skip
    assert buckets == {**{repr(b / 1e9): float(n) for b, n in below.items()}, "+Inf": 10.0}
    assert buckets["0.001"] == 4
    assert buckets["0.0025"] == 7
    assert buckets["0.1"] == 9
    assert got[("qt_model_vote_seconds_count", (("model", "lgbm"),))] == 10
    assert got[("qt_model_vote_seconds_sum", (("model", "lgbm"),))] == 0.4


def test_an_empty_database_has_the_series_without_samples(
    client: TestClient, bearer: dict[str, str]
) -> None:
    text = client.get("/metrics", headers=bearer).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    names = {"qt_model_vote_seconds", "qt_model_drift_events", "qt_model_covariate_shifted",
             "qt_model_drift_last_event_timestamp_seconds", "qt_model_drift_statistic",
             "qt_model_recent_log_loss", "qt_model_live_calibration",
             "qt_model_calibration", "qt_challenger_vote_seconds",
             "qt_challenger_live_calibration"}  # fmt: skip
    assert names <= set(families)
    assert not [s for name in names for s in families[name].samples]
    assert families["qt_model_vote_seconds"].type == "histogram"
    assert families["qt_challenger_vote_seconds"].type == "histogram"


@pytest.mark.parametrize("counters", [{}, {"signals": 3}])
def test_no_live_votes_no_vote_time(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine, counters: dict[str, int]
) -> None:
    statuses = StatusRegistry(SimulatedClock(START_MS), SqlStatusRepository(sqlite_engine), RUN)
    handle = statuses.register("ensemble", enabled=True, reason="test")
    for name, n in counters.items():
        handle.count(name, n)
    statuses.flush()
    assert not [k for k in samples(client, bearer) if k[0].startswith("qt_model_vote_seconds")]
