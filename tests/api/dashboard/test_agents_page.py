"""The Agents page in headless Chromium over a database holding the agents' records
(``seed_agents``): each agent's modules (module 15 "not recorded"), the PPO selector line's
versions with their stage timeline and which serves in production and in the shadow, the
Q-table with its cells, the last run's figures; and a registry change redrawn from the event
stream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.event_outbox import EventOutboxWriter
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.learning.registry import ModelRegistry, Stage
from tests.api.dashboard.conftest import Served, serve
from tests.api.dashboard.seed_agents import (
    PROMOTED_V2,
    QSCOPE,
    SELECTOR,
    SIZER_WHY,
    T0,
    WHY,
    seed_agents,
)

SELECTOR_CARD = "section.agent[data-agent='ppo_selector']"
VERSION = f"{SELECTOR_CARD} tr.agent-version"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """This module's server: a database with the agents' records only."""
    engine = open_database(f"sqlite:///{tmp_path_factory.mktemp('agents') / 'qt.sqlite'}")
    seed_agents(engine)
    for base in serve(engine):
        yield Served(base, engine)
    engine.dispose()


def test_the_agents_page_shows_each_agents_records(page: Any, served: Served) -> None:
    page.goto(f"{served.base}/dashboard/")
    page.click("#nav a[data-page='agents']")
    page.wait_for_selector(f"{VERSION}[data-version='3']")
    assert page.locator("#agents section.agent").count() == 3
    module = page.inner_text(f"{SELECTOR_CARD} [data-module='rl_meta_strategy']")
    assert "13 · rl_meta_strategy" in module and "ACTIVE" in module
    assert "policy_decisions: 412" in module
    sizer_module = page.locator(
        "section.agent[data-agent='rl_sizer'] [data-module='rl_position_sizing']"
    )
    assert sizer_module.get_attribute("data-recorded") == "false"
    assert "not recorded" in sizer_module.inner_text()
    # the versions, newest first, each with its stage now and what it serves
    rows = page.locator(VERSION)
    assert [
        (rows.nth(i).get_attribute("data-version"), rows.nth(i).get_attribute("data-stage"),
         rows.nth(i).get_attribute("data-serves"))
        for i in range(rows.count())
    ] == [("3", "SHADOW", "shadow"), ("2", "PRODUCTION", "production"), ("1", "RETIRED", "")]  # fmt: skip
    assert page.inner_text(f"{SELECTOR_CARD} .serves-production") == "v2"
    assert page.inner_text(f"{SELECTOR_CARD} .serves-shadow") == "v3"
    assert WHY[1] in page.inner_text(f"{VERSION}[data-version='1']")
    stages = page.inner_text(f"{VERSION}[data-version='1'] .stages")  # its timeline
    assert stages.index("CANDIDATE") < stages.index("PRODUCTION") < stages.index("RETIRED")
    title = page.locator(f"{VERSION}[data-version='2'] .stages [title]").nth(1)
    assert PROMOTED_V2 in (title.get_attribute("title") or "")
    sizer = page.inner_text("section.agent[data-agent='rl_sizer']")
    assert "rl_sizer/global/h0" in sizer and SIZER_WHY in sizer and "r-old" in sizer
    qlearner = page.inner_text("section.agent[data-agent='qlearning']")
    assert QSCOPE in qlearner and "space-v1" in qlearner and "keeps no registry line" in qlearner
    # the table's cells: one row per state, the most visited first, its key decoded
    cells = page.locator(f"section.agent[data-agent='qlearning'] .qcells[data-scope='{QSCOPE}']")
    states = cells.locator("tr.qstate")
    assert [states.nth(i).get_attribute("data-state") for i in range(states.count())] == [
        "BULL|v2|c1|p+", "legacy-7", "NONE|v0|c0|p0",
    ]  # fmt: skip
    headers = cells.locator("th").all_inner_texts()
    assert headers[-3:] == ["Breakout", "MeanReversion", "TrendFollowing"]
    bull = [td.strip() for td in states.nth(0).locator("td").all_inner_texts()]
    assert bull == ["BULL|v2|c1|p+", "BULL", "2", "1", "+", "6", "0.5 (4)", "-0.1 (2)", "—"]
    assert states.nth(0).locator("strong").inner_text() == "0.5 (4)"  # its best action
    legacy = [td.strip() for td in states.nth(1).locator("td").all_inner_texts()]
    assert legacy[1:6] == ["—", "—", "—", "—", "3"]  # not a state key: shown, not decoded
    assert "all 3 states" in cells.inner_text()
    last = page.inner_text(f"{SELECTOR_CARD} .last-run")
    assert "r-mid" in last and "decisions_logged" in last and "77" in last


def test_a_stage_change_is_redrawn_from_the_event_stream(page: Any, served: Served) -> None:
    page.goto(f"{served.base}/dashboard/#/agents")
    page.wait_for_selector(f"{VERSION}[data-version='3'][data-stage='SHADOW']")
    page.evaluate("window.__loaded = true")  # gone if the page reloads
    registry = ModelRegistry(
        SqlRegistryRepository(served.engine), SimulatedClock(T0 + 10 * 3_600_000)
    )
    registry.promote(SELECTOR, 3, actor="rl:daemon", reason="beat the rules", to=Stage.PRODUCTION)
    outbox = EventOutboxWriter(served.engine, "r-new")
    outbox.record("model.stage_changed", T0, "ppo_selector", ("to_stage",), ("PRODUCTION",))
    outbox.flush()
    page.wait_for_selector(
        f"{VERSION}[data-version='3'][data-stage='PRODUCTION'][data-serves='production']"
    )
    assert page.inner_text(f"{SELECTOR_CARD} .serves-shadow") == "none"
    assert page.get_attribute(f"{VERSION}[data-version='2']", "data-stage") == "RETIRED"
    assert page.evaluate("window.__loaded") is True
