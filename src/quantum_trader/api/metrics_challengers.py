"""The judged challengers' series for ``/metrics`` (SHADOW and CANARY versions): their live vote
time and their calibration on the labels matured during the run, the figures a production
member has in ``qt_model_vote_seconds`` and ``qt_model_live_calibration``.

Both are what the shadow evaluator already keeps (``learning/challenger_figures.py``):

* vote time: the ``shadow_models`` module's status counters ``challenger_votes.<name>``,
  ``challenger_vote_ns.<name>``, ``challenger_vote_le_<bound>us.<name>`` and
  ``challenger_share_pct.<name>`` (``<name>`` is ``<line>@v<version>``), in the status table the
  engine flushes, so they follow the run as it goes;
* live calibration: the evaluator's state the run saves when it stops
  (``app/continuous_learning.py``: under ``shadow/<run id>``).

A separate family from the production members' rather than a ``stage`` label on theirs: a
member's series counts every version it served, a challenger's one version, and the existing
series keep the labels their queries were written for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from prometheus_client.core import HistogramMetricFamily, Metric
from sqlalchemy import Engine

from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.api.metrics_engine import gauge
from quantum_trader.intelligence.calibration import LiveCalibration
from quantum_trader.learning.challenger_figures import (
    SHARE,
    VOTE_NS,
    VOTES,
    challenger_bucket_counter,
    parse_challenger,
)
from quantum_trader.learning.registry import ModelKey, Stage
from quantum_trader.models.ensemble.ensemble import VOTE_TIME_BOUNDS_NS
from quantum_trader.status.registry import ModuleStatus

#: the module whose status holds the challengers' vote-time counters
SHADOW_MODULE: Final = "shadow_models"
VERSION_LABELS: Final = ("model", "scope", "horizon", "version", "stage")


def stage_of(share: float) -> str:
    """A challenger with no share of its slot is SHADOW; with one, CANARY (``Challenge``)."""
    return Stage.SHADOW.value if share == 0 else Stage.CANARY.value


def cumulative_buckets(
    counters: Mapping[str, int], name: str, votes: int, counter: Callable[[int, str], str]
) -> list[tuple[str, float]]:
    """``name``'s histogram buckets from per-bucket counters (``counter(bound, name)``): each
    vote is counted in one bucket, Prometheus wants each bound's count of votes at most that
    long, so the counts are summed upwards; +Inf is every vote, those above the last bound
    included.

    >>> counters = {"challenger_vote_le_50us.x": 3, "challenger_vote_le_1000us.x": 1}
    >>> b = cumulative_buckets(counters, "x", 5, challenger_bucket_counter)
    >>> [x for x in b if x[0] in ("5e-05", "0.0005", "0.001", "+Inf")]
    [('5e-05', 3.0), ('0.0005', 3.0), ('0.001', 4.0), ('+Inf', 5.0)]
    """
    out: list[tuple[str, float]] = []
    cumulative = 0
    for bound in VOTE_TIME_BOUNDS_NS:
        cumulative += counters.get(counter(bound, name), 0)
        out.append((repr(bound / 1e9), float(cumulative)))
    # a vote is counted before its bucket, so +Inf >= every bound already; the max keeps the
    # histogram valid should counters of another origin disagree
    out.append(("+Inf", float(max(votes, cumulative))))
    return out


def challenger_series(
    engine: Engine, run_id: str | None, statuses: Sequence[ModuleStatus]
) -> list[Metric]:
    """``qt_challenger_vote_seconds`` and ``qt_challenger_live_calibration``."""
    return [_vote_time(statuses), _live_calibration(engine, run_id)]


def _vote_time(statuses: Sequence[ModuleStatus]) -> Metric:
    out = HistogramMetricFamily(
        "qt_challenger_vote_seconds",
        "each judged challenger version's live vote times while it is judged, this run",
        labels=list(VERSION_LABELS),
    )
    counters = next((s.counters for s in statuses if s.name == SHADOW_MODULE), {})
    for key, n in sorted(counters.items()):
        if not key.startswith(VOTES) or SHARE + key.removeprefix(VOTES) not in counters:
            continue
        name = key.removeprefix(VOTES)
        line, version = parse_challenger(name)
        stage = stage_of(counters[SHARE + name])
        labels = [line.model, line.scope, str(line.horizon), str(version), stage]
        buckets = cumulative_buckets(counters, name, n, challenger_bucket_counter)
        out.add_metric(labels, buckets, sum_value=counters.get(VOTE_NS + name, 0) / 1e9)
    return out


def _live_calibration(engine: Engine, run_id: str | None) -> Metric:
    out = gauge(
        "qt_challenger_live_calibration",
        "each judged challenger version's discounted ECE, Brier score and log-loss on the "
        "labels of its votes matured during the last run, when it stopped",
        [*VERSION_LABELS, "symbol", "metric"],
    )
    if run_id is None:
        return out
    saved = SqlIntelligenceStateRepository(engine).load(f"shadow/{run_id}")
    if saved is None:
        return out
    # ShadowEvaluator.to_state; a state saved before the challengers' figures existed has none
    state = json.loads(saved).get("challengers")
    if state is None:
        return out
    for line_text, judged in sorted(state["judged"].items()):
        if not judged["calibration"]:
            continue
        version = int(judged["version"])
        line = ModelKey.parse(line_text)
        stage = stage_of(float(judged["share"]))
        labels = [line.model, line.scope, str(line.horizon), str(version), stage]
        calibration = LiveCalibration(float(state["discount"]))
        calibration.load_state(judged["calibration"])
        for f in calibration.snapshot():
            for metric, value in (("ece", f.ece), ("brier", f.brier), ("log_loss", f.log_loss)):
                out.add_metric([*labels, f.symbol, metric], value)
    return out
