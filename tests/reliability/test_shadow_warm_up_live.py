"""The shadow accounts hold a symbol's entries for the feature warm-up after a hole in its live
feed, as production does (issue 22, Part B item 4), end to end through the main job's live phase.

Production's risk engine starts a warm-up when a symbol rejoins the live feed over skipped
candles (``RiskEngine.start_warm_up``, the live phase's ``hold_entries_on_rejoin``). Every shadow
account's risk engine follows production's warm-ups through one line of
``app/shadow_trading.py`` (``production.risk.follow_warm_ups(risk)``): their pipelines build the
same features on the same candles, so their windows span the hole alike. The unit tests
(``tests/risk/test_warm_up.py``) check the engine's side; here the main job runs as in
``tests/reliability/test_stale_feed_live.py`` (training, two days replayed, then live on the
recorded Binance USDT-M of ``tests/app/test_main_job_live.py``) with the shadow accounts its
default settings start: the Q-learning selector's pair (``QT_QLEARNING``) and any other
challenger's.

A shadow account's risk decisions are nobody's record: they go to a
:class:`~quantum_trader.risk.memory_journal.MemoryRiskJournal` that lives as long as its pair
(not the database's ``risk_decisions``, not a status counter: production's engine alone counts
and logs the holds), and a finished pair keeps only its figures. The test keeps a reference to
each journal the shadow composer makes (the same class, made through a function that keeps it;
nothing else changed) and reads the decisions there after the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from quantum_trader.app import shadow_trading
from quantum_trader.app.configs import feature_config
from quantum_trader.domain.risk import Outcome, RiskDecision
from quantum_trader.domain.time import fmt
from quantum_trader.risk.memory_journal import MemoryRiskJournal
from quantum_trader.risk.warm_up import feature_warm_up
from tests.app import test_main_job_live
from tests.app.test_main_job_live import HOUR, FakeWall, Market, _settings
from tests.reliability.test_stale_feed_live import FlakyBinance, _entry, _live_decisions, _run

#: the module fixture of the main job's live tests: the shared data cut LIVE_HOURS before its end
market = test_main_job_live.market

pytestmark = pytest.mark.data


def _account(decision: RiskDecision) -> str:
    """The shadow account that decided: its risk engine's run id, ``<account>:risk:<n>``."""
    return decision.decision_id.rsplit(":risk:", 1)[0]


def _held(reasons: Any) -> bool:
    return any(str(x).startswith("warm_up:") for x in reasons)


def test_the_shadow_accounts_hold_entries_of_a_symbol_back_over_a_hole(
    market: Market, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ETHUSDT's candle opening at start + 4 h is missing until start + 10 h (BTCUSDT's feed is
    whole), as in the stale-feed test's warm-up case: ETHUSDT is left behind, rejoins over its
    hole, and production refuses its entries (rule ``warm_up``) to the end of the data. Each
    shadow account refuses its own ETHUSDT entries from the same candle on, by the same rule
    and hold (rejoined at the candle after the hole, one candle skipped), and no other entry;
    its exits pass. Without the wiring line the shadow accounts approve those entries."""
    journals: list[MemoryRiskJournal] = []  # each shadow account's, kept past its pair's end

    def kept() -> MemoryRiskJournal:
        journals.append(MemoryRiskJournal())
        return journals[-1]

    monkeypatch.setattr(shadow_trading, "MemoryRiskJournal", kept)
    start = market.replay_end
    switch = start + HOUR // 2
    hole = start + 4 * HOUR
    since = hole + HOUR  # ETHUSDT's first candle after the hole
    first_close = since + HOUR
    wall = FakeWall(switch)
    home = tmp_path / "home"
    exchange = FlakyBinance(market, wall, ("ETHUSDT",), hole=hole, healed_at=start + 10 * HOUR)
    result = _run(market, home, exchange)
    assert result.summary["live"]["state"] == "stopped by Ctrl-C"
    counters = result.runtime.status.get("market_data").status.counters
    assert counters["live_feed_candles_skipped"] == 1 and counters["live_feed_gaps"] == 1

    # production held ETHUSDT's entries for the warm-up (tests/reliability/test_stale_feed_live)
    warm = feature_warm_up(feature_config(_settings(home, market)), "1h")
    rows = _live_decisions(result, switch)
    assert (max(r.time for r in rows) - first_close) // HOUR + 1 < warm  # held to the end
    held_rows = [r for r in rows if _held(json.loads(r.reasons_json))]
    assert held_rows and all(r.symbol == "ETHUSDT" and _entry(r) for r in held_rows)
    risk = result.runtime.status.get("risk_safety").status.counters
    # one warm-up started and counted, by production's engine only: the followers are quiet
    assert risk["warm_ups_started"] == 1
    assert risk["entries_held_warm_up"] == len(held_rows)

    # the shadow accounts: which ran, and what their risk engines decided in the live phase
    assert "qlearning_shadow" in result.summary  # QT_QLEARNING's pair, on by default
    decisions = [d for j in journals for d in j.decisions if d.time > switch]
    accounts = {_account(d) for d in decisions}
    assert {"qlearning", "qlearning@twin"} <= accounts, accounts
    eth = [d for d in decisions if d.intent.symbol == "ETHUSDT" and d.time >= first_close]
    entries = [d for d in eth if not d.intent.reduce_only]
    # on this data the shadow accounts try ETHUSDT entries after the hole (else nothing to see)
    assert entries, f"no shadow account tried an ETHUSDT entry after the hole: {accounts}"
    # production's hold: since its first candle after the hole, 1 skipped, for W candles
    rejoined = f"warm_up: ETHUSDT rejoined the live feed at {fmt(since)} after 1 skipped candle;"
    until = f"of {warm} candles (entries from the candle closing at {fmt(since + warm * HOUR)})"
    for d in entries:
        assert d.outcome is Outcome.REJECTED, (_account(d), fmt(d.time), d.outcome, d.reasons)
        assert any(x.startswith(rejoined) and x.endswith(until) for x in d.reasons), (
            _account(d),
            d.reasons,
        )
    # on this data every shadow account (the Q-learner's, the PPO selector's and the RL
    # sizer's pairs) tries ETHUSDT entries after the hole: each of them held
    assert {_account(d) for d in entries} == accounts
    # the hold is on entries of ETHUSDT from its rejoin only; exits are not its business
    assert [d for d in decisions if _held(d.reasons)] == [d for d in entries if _held(d.reasons)]
    assert not [d for d in eth if d.intent.reduce_only and d.outcome is Outcome.REJECTED]
