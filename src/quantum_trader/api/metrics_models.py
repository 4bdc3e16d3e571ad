"""Per-model series for ``/metrics``: each member's live vote time, drift, covariate shift and
calibration, read from the database at scrape time (kept 5 s, as the engine's series).

Every figure is one the engine already stores; nothing here computes a model's quality anew:

* vote time: the ensemble's status counters ``live_votes.<member>``, ``live_vote_ns.<member>``
  and ``live_vote_le_<bound>us.<member>`` (``models/ensemble/ensemble.py`` counts every live
  vote, its time and its latency bucket, in the status table the engine flushes), exported as
  a histogram. Votes a replay computed ahead in batch are not timed one by one, so they are
  not in it;
* drift and covariate shift: the last run's ``model.drift.detected`` and
  ``model.covariate_shift`` events in the event outbox (written about once a second), and the
  CUSUM statistic of each (symbol, member) in the intelligence state the run saves when it
  stops (``app/compose.py``: under ``intelligence/<run id>/``);
* recent log-loss: reinforcement's discounted mean log-loss of each (symbol, member) on its
  matured labels, in the same saved state;
* live calibration: the discounted ECE, Brier score and log-loss of each (symbol, member) on
  the labels matured during the run (``intelligence/calibration.py``, fed by reinforcement), in
  the same saved state;
* calibration: each production and challenger (SHADOW, CANARY) version's figures on rows it
  was not fitted on, labelled by stage, from its registry lineage (``holdout_*``: the
  training's held-out tail, after and before its vector scaling) and from the gate validation
  that judged it (``candidate_*`` of the trial ``<line>@v<version>``: the newest matured
  labels when it was validated);
* the judged challengers' own vote time and live calibration (``api/metrics_challengers.py``).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from typing import Final

from prometheus_client.core import HistogramMetricFamily, Metric
from sqlalchemy import and_, or_, select

from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.adapters.sql.tables_events import event_outbox
from quantum_trader.adapters.sql.tables_registry import model_production, model_versions
from quantum_trader.adapters.sql.tables_trials import trials
from quantum_trader.api.metrics_challengers import challenger_series, cumulative_buckets
from quantum_trader.api.metrics_engine import ScrapedSeries, gauge
from quantum_trader.api.reads_portfolio import last_run_id
from quantum_trader.bus.topics import MODEL_COVARIATE_SHIFT, MODEL_DRIFT_DETECTED
from quantum_trader.intelligence.calibration import LiveCalibration
from quantum_trader.intelligence.drift import NAME as DRIFT_MODULE
from quantum_trader.intelligence.drift import DriftMonitor
from quantum_trader.intelligence.reinforcement import NAME as REINFORCEMENT_MODULE
from quantum_trader.intelligence.reinforcement import ReinforcementConfig
from quantum_trader.learning.lineage import MODEL_KIND, Lineage
from quantum_trader.learning.registry import ModelKey, Stage
from quantum_trader.models.ensemble.ensemble import vote_bucket_counter
from quantum_trader.status.registry import ModuleStatus

#: the ensemble's status counters of live votes: ``<prefix><member>``
VOTES: Final = "live_votes."
VOTE_NS: Final = "live_vote_ns."
#: the calibration metrics both the training's held-out rows and the gate's validation keep
CALIBRATION: Final = ("ece", "brier", "log_loss")
#: the stages whose versions serve beside production as challengers (the shadow pipeline, a
#: canary's share of the traffic): their calibration is exported next to the champion's
CHALLENGERS: Final = (Stage.SHADOW.value, Stage.CANARY.value)
#: where a calibration figure was measured → how its metric is named there
SAMPLES: Final = {
    "holdout": "holdout_{}",
    "holdout_raw": "holdout_{}_raw",
    "validation": "candidate_{}",
}


class ModelSeries(ScrapedSeries):
    """``qt_model_vote_seconds``, ``qt_model_drift_*``, ``qt_model_covariate_shifted``,
    ``qt_model_recent_log_loss``, ``qt_model_live_calibration``, ``qt_model_calibration``,
    ``qt_challenger_vote_seconds`` and ``qt_challenger_live_calibration`` (docs/api.md,
    "Metrics")."""

    def _read(self) -> list[Metric]:
        run_id = last_run_id(self._engine, self._clock)
        events = self._events(run_id)
        saved = self._saved_state(run_id)
        statuses = SqlStatusRepository(self._engine).load_all()
        challengers = challenger_series(self._engine, run_id, statuses)
        return [self._vote_time(statuses), *events, *saved, self._calibration(), *challengers]

    def _vote_time(self, statuses: list[ModuleStatus]) -> Metric:
        out = HistogramMetricFamily(
            "qt_model_vote_seconds",
            "each member's live vote times, this run (batch votes not timed)",
            labels=["model"],
        )
        counters = next((s.counters for s in statuses if s.name == "ensemble"), {})
        for model, n in sorted(member_counters(counters, VOTES).items()):
            total_ns = counters.get(VOTE_NS + model, 0)
            out.add_metric([model], vote_buckets(counters, model, n), sum_value=total_ns / 1e9)
        return out

    def _events(self, run_id: str | None) -> list[Metric]:
        pair = ["model", "symbol"]
        drifts = gauge("qt_model_drift_events", "the last run's drift events per member", pair)
        last = gauge(
            "qt_model_drift_last_event_timestamp_seconds",
            "engine time of the last run's latest drift event per member", pair,
        )  # fmt: skip
        shifted = gauge(
            "qt_model_covariate_shifted",
            "1 while a member's live inputs are shifted from its training data (last run)", pair,
        )  # fmt: skip
        out: list[Metric] = [drifts, last, shifted]
        if run_id is None:
            return out
        o = event_outbox
        types = (MODEL_DRIFT_DETECTED.name, MODEL_COVARIATE_SHIFT.name)
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(o.c.type, o.c.time, o.c.payload_json)
                .where(o.c.run_id == run_id, o.c.type.in_(types))
                .order_by(o.c.id)
            ).all()
        counts: Counter[tuple[str, str]] = Counter()
        times: dict[tuple[str, str], int] = {}
        states: dict[tuple[str, str], str] = {}
        for type_, time, payload_json in rows:
            payload = json.loads(payload_json)
            key = (str(payload["model"]), str(payload["symbol"]))
            if type_ == MODEL_DRIFT_DETECTED.name:
                counts[key] += 1
                times[key] = max(times.get(key, time), time)
            else:
                states[key] = str(payload["state"])
        for key, n in sorted(counts.items()):
            drifts.add_metric(list(key), float(n))
            last.add_metric(list(key), times[key] / 1000)
        for key, state in sorted(states.items()):
            shifted.add_metric(list(key), 1.0 if state == "started" else 0.0)
        return out

    def _saved_state(self, run_id: str | None) -> list[Metric]:
        pair = ["model", "symbol"]
        statistic = gauge(
            "qt_model_drift_statistic",
            "each member's CUSUM statistic on its losses when the last run stopped", pair,
        )  # fmt: skip
        log_loss = gauge(
            "qt_model_recent_log_loss",
            "each member's discounted mean log-loss on matured labels when the last run stopped",
            pair,
        )
        live = gauge(
            "qt_model_live_calibration",
            "each member's discounted ECE, Brier score and log-loss on the labels matured "
            "during the last run, when it stopped",
            [*pair, "metric"],
        )
        out: list[Metric] = [statistic, log_loss, live]
        if run_id is None:
            return out
        repo = SqlIntelligenceStateRepository(self._engine)
        prefix = f"intelligence/{run_id}"  # app/compose.py's keys; saved when the run stops
        drift = repo.load(f"{prefix}/{DRIFT_MODULE}")
        if drift is not None:
            monitor = DriftMonitor(None)
            monitor.load_state(json.loads(drift))
            for symbol, model, value, _ready, _last in monitor.snapshot():
                statistic.add_metric([model, symbol], value)
        weights = repo.load(f"{prefix}/{REINFORCEMENT_MODULE}")
        if weights is not None:
            state = json.loads(weights)
            # Reinforcement.to_state: per symbol and member [S, N, weight], S and N discounted
            for symbol, by_model in sorted(state["members"].items()):
                for model, (loss_sum, count, _weight) in sorted(by_model.items()):
                    if count > 0:
                        log_loss.add_metric([model, symbol], loss_sum / count)
            # the figures are ratios of the saved sums: the discount plays no part in reading
            # them (a state saved before the live calibration existed has none)
            calibration = LiveCalibration(ReinforcementConfig().discount)
            calibration.load_state(state.get("calibration", {}))
            for f in calibration.snapshot():
                for metric, value in (("ece", f.ece), ("brier", f.brier), ("log_loss", f.log_loss)):
                    live.add_metric([f.model, f.symbol, metric], value)
        return out

    def _calibration(self) -> Metric:
        out = gauge(
            "qt_model_calibration",
            "production and challenger versions' ECE, Brier score and log-loss on rows they "
            "were not fitted on",
            ["model", "scope", "horizon", "version", "stage", "metric", "sample"],
        )
        m, p = model_versions, model_production
        production = and_(
            p.c.model == m.c.model, p.c.scope == m.c.scope, p.c.horizon == m.c.horizon,
            p.c.version == m.c.version,
        )  # fmt: skip
        with self._engine.connect() as conn:
            lines = conn.execute(
                select(m.c.model, m.c.scope, m.c.horizon, m.c.version, m.c.stage,
                       p.c.version.is_not(None), m.c.metadata_json)
                .outerjoin(p, production)
                .where(or_(p.c.version.is_not(None), m.c.stage.in_(CHALLENGERS)))
            ).all()  # fmt: skip
            names = [f"{ModelKey(mo, s, int(h))}@v{v}" for mo, s, h, v, *_ in lines]
            validated = conn.execute(
                select(trials.c.name, trials.c.metrics_json)
                .where(trials.c.kind == "validation", trials.c.name.in_(names))
                .order_by(trials.c.id)
            ).all()  # fmt: skip
        latest = {str(name): json.loads(text) for name, text in validated}  # the newest wins
        for model, scope, horizon, version, stage, serving, metadata_json in sorted(lines):
            lineage = Lineage.from_json(metadata_json)
            if lineage.kind != MODEL_KIND:  # a policy's metrics are not a forecast's
                continue
            # the production pointer decides what serves, whatever the version's stage column
            shown = Stage.PRODUCTION.value if serving else str(stage)
            labels = [str(model), str(scope), str(horizon), str(version), shown]
            figures = {
                "holdout": lineage.metrics,
                "holdout_raw": lineage.metrics,
                "validation": latest.get(f"{ModelKey(model, scope, int(horizon))}@v{version}", {}),
            }
            for sample, pattern in SAMPLES.items():
                for metric in CALIBRATION:
                    value = figures[sample].get(pattern.format(metric))
                    if isinstance(value, int | float) and math.isfinite(value):
                        out.add_metric([*labels, metric, sample], float(value))
        return out


def member_counters(counters: Mapping[str, int], prefix: str) -> dict[str, int]:
    """The counters named ``<prefix><member>``, by member.

    >>> member_counters({"signals": 9, "live_votes.xgb": 4, "live_votes.nhits": 2}, VOTES)
    {'xgb': 4, 'nhits': 2}
    """
    return {k.removeprefix(prefix): v for k, v in counters.items() if k.startswith(prefix)}


def vote_buckets(counters: Mapping[str, int], model: str, votes: int) -> list[tuple[str, float]]:
    """``model``'s histogram buckets: the ensemble counts each vote in one bucket, Prometheus
    wants each bound's count of votes at most that long, so the counts are summed upwards;
    +Inf is every live vote, those above the last bound included.

    >>> counters = {"live_vote_le_50us.xgb": 3, "live_vote_le_1000us.xgb": 1}
    >>> [b for b in vote_buckets(counters, "xgb", 5) if b[0] in ("5e-05", "0.0005", "+Inf")]
    [('5e-05', 3.0), ('0.0005', 3.0), ('+Inf', 5.0)]
    """
    return cumulative_buckets(counters, model, votes, vote_bucket_counter)
