"""``/metrics``' engine series over the dashboard's seeded run plus rejected decisions:
parsed by prometheus_client's parser, every series with the value the database holds; read
once per 5 s however often it is scraped."""

from __future__ import annotations

import math

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.api.metrics_engine import EngineSeries
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.orders import OrderIntent, Side
from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.risk import Outcome, RiskDecision, TradingState
from tests.api.conftest import START_MS
from tests.api.dashboard.seed import HOURS, TRADES, seed

REJECTIONS = (
    ("kill_switch: kill switch engaged: maintenance",),
    ("kill_switch: kill switch engaged: maintenance",),
    ("max_leverage: 12x > 10x", "max_position: trimmed to 0.5"),
)


def reject(engine: Engine) -> None:
    intent = OrderIntent("BTCUSDT", Side.BUY, 1.0, leverage=12.0, reason="test")
    SqlRiskRepository(engine).record_decisions([
        RiskDecision(f"d{n}", Outcome.REJECTED, intent, 0.0, reasons, START_MS + n,
                     TradingState.ACTIVE, RiskMode.MODERATE)
        for n, reasons in enumerate(REJECTIONS)
    ])  # fmt: skip


def samples(
    client: TestClient, bearer: dict[str, str]
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics", headers=bearer).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("qt_") and not s.name.startswith("qt_api_")
    }


def test_the_engine_series_match_the_seeded_database(
    client: TestClient, bearer: dict[str, str], sqlite_engine: Engine
) -> None:
    seed(sqlite_engine)
    reject(sqlite_engine)
    got = samples(client, bearer)
    assert got[("qt_orders", (("status", "FILLED"),))] == 2 * TRADES
    assert got[("qt_fills", ())] == 2 * TRADES
    assert got[("qt_trades", ())] == TRADES
    assert got[("qt_risk_decisions", (("outcome", "APPROVED"),))] == TRADES
    assert got[("qt_risk_decisions", (("outcome", "REJECTED"),))] == len(REJECTIONS)
    assert got[("qt_risk_rejections", (("rule", "kill_switch"),))] == 2
    assert got[("qt_risk_rejections", (("rule", "max_leverage"),))] == 1
    assert got[("qt_risk_rejections", (("rule", "max_position"),))] == 1
    # the seeded curve: 10,000 + 40 sin(h / 15) + h for h < HOURS
    curve = [10_000.0 + 40 * math.sin(h / 15) + h for h in range(HOURS)]
    assert got[("qt_equity", ())] == curve[-1]
    assert got[("qt_equity_peak", ())] == max(curve)
    assert abs(got[("qt_drawdown", ())] - (max(curve) - curve[-1]) / max(curve)) < 1e-12
    # the seeded book: 1 BTCUSDT long marked at 104
    assert got[("qt_gross_exposure", ())] == 104.0
    assert got[("qt_open_positions", ())] == 1
    line = (("horizon", "4"), ("model", "xgb"), ("scope", "BTCUSDT"))
    assert got[("qt_model_versions", line)] == 3  # the seed registers three versions of the line


def test_an_empty_database_has_the_series_without_samples(
    client: TestClient, bearer: dict[str, str]
) -> None:
    text = client.get("/metrics", headers=bearer).text
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"qt_orders", "qt_fills", "qt_equity", "qt_drawdown", "qt_gross_exposure",
            "qt_risk_decisions", "qt_risk_rejections", "qt_model_versions"} <= names  # fmt: skip


def test_scrapes_within_five_seconds_read_the_database_once(sqlite_engine: Engine) -> None:
    now = [0.0]
    series = EngineSeries(sqlite_engine, SimulatedClock(START_MS), monotonic=lambda: now[0])

    def fills() -> list[float]:
        return [s.value for m in series.collect() if m.name == "qt_fills" for s in m.samples]

    assert fills() == []  # no run yet
    seed(sqlite_engine)
    now[0] = 4.9
    assert fills() == []  # cached
    now[0] = 5.1
    assert fills() == [2 * TRADES]
