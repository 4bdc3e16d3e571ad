"""Prometheus metrics of one app, in a registry of its own (never the process-global one):
requests, errors and latency per route, each module's evidence counters read from the
status table at scrape time, the engine's series (:mod:`.metrics_engine`) and the per-model
ones (:mod:`.metrics_models`)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.api.metrics_engine import EngineSeries
from quantum_trader.api.metrics_models import ModelSeries
from quantum_trader.clock.clock import Clock


class ApiMetrics:
    """The registry and the request series."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        labels = ("method", "route", "status")
        self.requests = Counter(
            "qt_api_requests", "HTTP requests answered", labels, registry=self.registry
        )
        self.errors = Counter(
            "qt_api_errors", "HTTP requests answered with a 5xx", ("method", "route"),
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "qt_api_request_seconds", "request latency", ("method", "route"),
            registry=self.registry,
        )  # fmt: skip
        self.registry.register(ModuleEvidence(engine))
        self.registry.register(EngineSeries(engine, clock))
        self.registry.register(ModelSeries(engine, clock))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        if status >= 500:
            self.errors.labels(method, route).inc()


class ModuleEvidence(Collector):
    """``qt_module_evidence{module,counter}`` and ``qt_module_active{module}`` from the status
    table the engine flushes (the same rows as ``quantum-trader status``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterable[Metric]:
        evidence = GaugeMetricFamily(
            "qt_module_evidence", "a module's evidence counter", labels=["module", "counter"]
        )
        active = GaugeMetricFamily(
            "qt_module_active", "1 when the module's state is ACTIVE", labels=["module"]
        )
        for status in SqlStatusRepository(self._engine).load_all():
            active.add_metric([status.name], 1.0 if status.state.value == "ACTIVE" else 0.0)
            for name, value in sorted(status.counters.items()):
                evidence.add_metric([status.name, name], float(value))
        yield evidence
        yield active


class MetricsMiddleware:
    """Times every HTTP request and counts it under its route template (``/api/v1/x/{name}``,
    never the raw path: the series stay bounded)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], str(route), status, time.perf_counter() - started)
