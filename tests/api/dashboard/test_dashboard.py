"""The dashboard in headless Chromium (issue 20's acceptance): log in, the overview populated,
the kill switch turned on in the page and the next risk decision rejected for it, a trade's
decision trace, a live event arriving without a reload, backtests of either strategy started
from the page and followed to their reports, and the other pages drawn."""

from __future__ import annotations

from typing import Any

from quantum_trader.adapters.sql.event_outbox import EventOutboxWriter
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.risk.decision import Outcome
from tests.api.conftest import USERNAME
from tests.api.dashboard.conftest import Served, log_in
from tests.api.dashboard.seed import HOURS, MEMBERS, MODULES, TRACED, TRACED_REGIME, TRACED_STRATEGY
from tests.risk.helpers import T0, buy, engine, portfolio


def test_login_opens_the_dashboard_and_refuses_a_wrong_password(
    browser: Any, served: Served
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{served.base}/")  # no session: sent to the login page
    assert page.url == f"{served.base}/dashboard/login"
    log_in(page, served.base, password="wrong-password")
    page.wait_for_selector("#login-error:has-text('Wrong username or password')")
    log_in(page, served.base)
    page.wait_for_url(f"{served.base}/dashboard/")
    page.wait_for_selector("#live.on")  # the event stream is open on the cookie session
    assert {c["name"] for c in context.cookies()} >= {"qt_session", "qt_csrf"}
    context.close()


def test_overview_shows_equity_drawdown_risk_and_the_module_grid(page: Any, served: Served) -> None:
    page.goto(f"{served.base}/dashboard/#/overview")
    page.wait_for_selector("svg.equity-chart[data-drawn]")
    # the equity curve and buy-and-hold, each at every stored point
    assert page.get_attribute("svg.equity-chart", "data-drawn") == str(2 * HOURS)
    assert page.locator("svg.equity-chart polyline.benchmark").count() == 1
    assert page.get_attribute("svg.drawdown-chart", "data-drawn") == str(HOURS)
    note = page.inner_text("#benchmark-note")
    assert "Buy-and-hold" in note and "BTCUSDT, ETHUSDT" in note and "not drawn" not in note
    assert page.locator("#modules .module").count() == MODULES
    module = page.inner_text("#modules [data-module='module_07']")
    assert "ACTIVE" in module and "evidence: 7" in module
    assert page.inner_text("#kill-state") == "off"


def test_kill_switch_from_the_page_rejects_the_next_decision(page: Any, served: Served) -> None:
    repo = SqlRiskRepository(served.engine)  # the risk engine reads the switch from the database
    risk_engine = engine(portfolio(), SimulatedClock(T0), journal=repo, store=repo)
    assert risk_engine.evaluate(buy(qty=0.01)).outcome is Outcome.APPROVED
    page.goto(f"{served.base}/dashboard/#/overview")
    page.fill("#kill-reason", "browser test: exchange incident")
    page.click("#kill-toggle")
    page.wait_for_selector("#kill-state:has-text('ENGAGED')")
    state = repo.latest_kill_switch()
    assert state is not None and state.engaged and state.changed_by == f"api:{USERNAME}"

    decision = risk_engine.evaluate(buy(qty=0.01))
    assert decision.outcome is Outcome.REJECTED
    assert any(
        "kill switch engaged: browser test: exchange incident" in r for r in decision.reasons
    )

    page.fill("#kill-reason", "incident over")
    page.click("#kill-toggle")
    page.wait_for_selector("#kill-state:has-text('off')")
    assert risk_engine.evaluate(buy(qty=0.01)).outcome is Outcome.APPROVED


def test_a_trades_decision_trace_opens(page: Any, served: Served) -> None:
    page.goto(f"{served.base}/dashboard/#/trades")
    page.click(f"tr.trade-row[data-trade-id='{TRACED}']")
    page.wait_for_selector(f"#trace[data-trade-id='{TRACED}']")
    assert page.inner_text("#trace-regime") == TRACED_REGIME
    assert page.inner_text("#trace-strategy").startswith(TRACED_STRATEGY)
    assert all(member in page.inner_text("#trace-members") for member in MEMBERS)
    assert page.inner_text("#trace-signal").startswith("UP p 0.46")  # the ensemble's verdict
    trace = page.inner_text("#trace")
    assert "APPROVED" in trace and "fixed_fractional" in trace and "MODERATE" in trace
    votes = page.inner_text("#trace-votes")  # each member's vote and weight
    assert "xgb@2" in votes and "0.6" in votes and "0.4" in votes


def test_a_live_event_appears_without_a_reload(page: Any, served: Served) -> None:
    page.goto(f"{served.base}/dashboard/#/overview")
    page.wait_for_selector("#live.on")
    page.evaluate("window.__loaded = true")  # gone if the page reloads
    outbox = EventOutboxWriter(served.engine, "r1")
    outbox.record("health.alert", T0, "health", ("reason",), ("feed stalled on SOLUSDT",))
    outbox.flush()
    page.wait_for_selector(
        "#events li[data-type='health.alert']:has-text('feed stalled on SOLUSDT')"
    )
    assert page.evaluate("window.__loaded") is True


def test_the_other_pages_draw(page: Any, served: Served) -> None:
    page.goto(f"{served.base}/dashboard/#/candles")
    page.wait_for_selector("svg.price-chart[data-drawn]")
    # BTCUSDT's stored candles up to its last trade, not its fills' prices
    drawn = int(page.get_attribute("svg.price-chart", "data-drawn") or 0)
    assert drawn == page.locator("svg.price-chart g.candle").count() > HOURS / 2
    assert page.locator("svg.price-chart g.candle.up").count() > 0
    assert page.locator("svg.price-chart polyline.price").count() == 0
    assert (
        page.locator("svg.price-chart path.entry-BUY, svg.price-chart path.entry-SELL").count() > 0
    )
    assert "stored 1h candles" in page.inner_text("#candles-note")
    page.goto(f"{served.base}/dashboard/#/positions")
    page.wait_for_selector("#positions td:has-text('BTCUSDT')")
    assert "LONG" in page.inner_text("#positions")
    page.goto(f"{served.base}/dashboard/#/models")
    page.wait_for_selector("#history li")
    assert "PRODUCTION" in page.inner_text("#history")
    judged = page.inner_text("#challengers")
    assert "xgb/BTCUSDT/h4" in judged and "SHADOW" in judged and "passed the gate" in judged
    page.goto(f"{served.base}/dashboard/#/experiments")
    page.wait_for_selector("#experiments td:has-text('ppo-vs-q')")


def test_a_backtest_started_from_the_page_is_followed_to_its_report(
    page: Any, served: Served
) -> None:
    page.goto(f"{served.base}/dashboard/#/backtests")
    page.wait_for_selector("#bt-form")
    page.fill("#bt-symbols", "BTCUSDT")
    page.fill("#bt-start", "2024-01-01")
    page.fill("#bt-end", "2024-01-05")
    page.click("#bt-start-button")
    row = "#backtests tr.job-row[data-job-id='1']"
    page.wait_for_selector(f"{row}[data-state='finished']")  # followed without a reload
    text = page.inner_text(row)
    assert "BTCUSDT 1h" in text and "2024-01-01 → 2024-01-05" in text and "1.23 %" in text
    href = page.get_attribute(f"{row} a.report", "href")
    assert href == "/api/v1/backtests/1/report"
    report = page.request.get(f"{served.base}{href}")  # the cookie session reads it
    assert report.ok and "backtest report" in report.text()
    assert "SMA 10/30" in text and page.get_attribute(row, "data-strategy") == "sma_cross"


def test_an_ai_backtest_started_from_the_page_has_no_sma_averages(
    page: Any, served: Served
) -> None:
    page.goto(f"{served.base}/dashboard/#/backtests")
    page.wait_for_selector("#bt-form")
    assert page.is_visible("#bt-fast")
    page.select_option("#bt-strategy", "ai")
    assert page.is_hidden("#bt-fast") and page.is_hidden("#bt-slow")  # the SMA cross's only
    page.fill("#bt-symbols", "ETHUSDT")
    page.fill("#bt-start", "2024-02-01")
    page.fill("#bt-end", "2024-02-03")
    with page.expect_request("**/api/v1/backtests") as sent:
        page.click("#bt-start-button")
    body = sent.value.post_data_json
    assert body["strategy"] == "ai" and "fast" not in body and "slow" not in body
    row = "#backtests tr.job-row[data-strategy='ai']"
    page.wait_for_selector(f"{row}[data-state='finished']")  # the list says which strategy
    text = page.inner_text(row)
    assert "ETHUSDT 1h" in text and "AI" in text and "SMA" not in text
    assert page.get_attribute(f"{row} a.report", "href") is not None
