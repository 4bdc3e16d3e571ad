"""The engine's series for ``/metrics``, read from the database at scrape time.

Each scrape runs a handful of aggregate queries (counts grouped by a column, the equity
curve's last point and peak, the last checkpoint's book) and keeps the answer for
``max_age_s`` (5 s): a Prometheus scraping every 15 s reads the database once per scrape, and
a burst of scrapes once per 5 s. The book's series are the last run's, as ``/positions`` and
``/equity`` read it; risk decisions and model versions are the whole tables' (neither is kept
per run).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from quantum_trader.adapters.sql.tables_execution import (
    equity_snapshots,
    exec_fills,
    exec_orders,
    exec_trades,
)
from quantum_trader.adapters.sql.tables_registry import model_versions
from quantum_trader.adapters.sql.tables_risk import risk_decisions
from quantum_trader.api.reads_portfolio import last_run_id, positions
from quantum_trader.clock.clock import Clock

#: a rejection's reason is ``"<rule>: <why>"`` (risk/engine.run_rules); the label is the rule
RULE_LABEL_CHARS = 64


def rule_of(reason: str) -> str:
    """The rule a risk reason names (the text before its first colon).

    >>> rule_of("max_leverage: 12x > 10x"), rule_of("rules did not settle in 5 passes")
    ('max_leverage', 'rules did not settle in 5 passes')
    """
    return reason.split(":", 1)[0].strip()[:RULE_LABEL_CHARS] or "unknown"


def gauge(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


class ScrapedSeries(Collector):
    """Series read from the database at scrape time by :meth:`_read`, the answer kept
    ``max_age_s``; a subclass fills :meth:`_read`."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        max_age_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._max_age_s = max_age_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            now = self._monotonic()
            if self._cached is None or now - self._cached[0] > self._max_age_s:
                self._cached = (now, self._read())
            return list(self._cached[1])

    def _read(self) -> list[Metric]:
        raise NotImplementedError


class EngineSeries(ScrapedSeries):
    """Orders, fills, trades, risk verdicts and rejections, equity, drawdown, exposure and
    registered model versions (docs/api.md, "Metrics")."""

    def _read(self) -> list[Metric]:
        run_id = last_run_id(self._engine, self._clock)
        return [*self._book(run_id), *self._risk(), self._models()]

    def _book(self, run_id: str | None) -> list[Metric]:
        orders = gauge("qt_orders", "the last run's orders by status", ["status"])
        fills = gauge("qt_fills", "the last run's fills")
        trades = gauge("qt_trades", "the last run's closed trades")
        equity = gauge("qt_equity", "the last run's latest equity (quote currency)")
        peak = gauge("qt_equity_peak", "the last run's highest equity")
        drawdown = gauge("qt_drawdown", "(peak − equity) / peak at the last run's latest point")
        exposure = gauge(
            "qt_gross_exposure", "sum of |notional| of the last run's open positions at its last checkpoint"
        )  # fmt: skip
        open_positions = gauge("qt_open_positions", "the last run's open positions")
        out: list[Metric] = [
            orders,
            fills,
            trades,
            equity,
            peak,
            drawdown,
            exposure,
            open_positions,
        ]
        if run_id is None:
            return out
        o, f, t, e = exec_orders, exec_fills, exec_trades, equity_snapshots
        with self._engine.connect() as conn:
            by_status = conn.execute(
                select(o.c.status, func.count()).where(o.c.run_id == run_id).group_by(o.c.status)
            ).all()
            n_fills = conn.execute(select(func.count()).where(f.c.run_id == run_id)).scalar_one()
            n_trades = conn.execute(select(func.count()).where(t.c.run_id == run_id)).scalar_one()
            high = conn.execute(select(func.max(e.c.equity)).where(e.c.run_id == run_id)).scalar()
            last = conn.execute(
                select(e.c.equity).where(e.c.run_id == run_id).order_by(e.c.time.desc()).limit(1)
            ).scalar()
        for status, count in sorted(by_status):
            orders.add_metric([str(status)], float(count))
        fills.add_metric([], float(n_fills))
        trades.add_metric([], float(n_trades))
        if last is not None and high is not None:
            equity.add_metric([], float(last))
            peak.add_metric([], float(high))
            drawdown.add_metric([], (high - last) / high if high > 0 else 0.0)
        book = positions(self._engine, self._clock).positions
        exposure.add_metric([], float(sum(abs(p.notional) for p in book)))
        open_positions.add_metric([], float(len(book)))
        return out

    def _risk(self) -> list[Metric]:
        verdicts = gauge("qt_risk_decisions", "risk decisions by outcome", ["outcome"])
        rejections = gauge(
            "qt_risk_rejections", "rejected risk decisions by the rule that rejected them", ["rule"]
        )
        r = risk_decisions
        with self._engine.connect() as conn:
            by_outcome = conn.execute(select(r.c.outcome, func.count()).group_by(r.c.outcome)).all()
            rejected = conn.execute(
                select(r.c.reasons_json, func.count())
                .where(r.c.outcome == "REJECTED")
                .group_by(r.c.reasons_json)
            ).all()
        for outcome, count in sorted(by_outcome):
            verdicts.add_metric([str(outcome)], float(count))
        rules: Counter[str] = Counter()
        for reasons_json, count in rejected:
            for rule in {rule_of(str(reason)) for reason in json.loads(reasons_json)}:
                rules[rule] += int(count)
        for rule, count in sorted(rules.items()):
            rejections.add_metric([rule], float(count))
        return [verdicts, rejections]

    def _models(self) -> Metric:
        versions = gauge(
            "qt_model_versions", "versions registered per model line (trainings that registered)",
            ["model", "scope", "horizon"],
        )  # fmt: skip
        m = model_versions
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(m.c.model, m.c.scope, m.c.horizon, func.count())
                .group_by(m.c.model, m.c.scope, m.c.horizon)
            ).all()  # fmt: skip
        for model, scope, horizon, count in sorted(rows):
            versions.add_metric([str(model), str(scope), str(horizon)], float(count))
        return versions
