"""A stale or gapped live feed through the main job's live phase and the risk engine (issue 22,
Part B item 4). The main job trains, replays two days, then goes live on the recorded Binance
USDT-M of the main job's live tests (``tests/app/test_main_job_live.py``: the shared data cut
LIVE_HOURS before its end, a wall clock that moves only when the run sleeps) until Ctrl-C.

* The exchange's feed goes stale for hours (it answers, with no new candle), then current again:
  nothing is decided while it is stale; the late candles come in order when it resumes, the
  risk engine's stale-data rule refuses their entries (journalled in ``risk_decisions``), and
  entries are approved again on current candles. Nothing is lost or handled twice.
* One symbol's feed skips a candle (the source holds the symbol, ``engine/live_source.py``) or
  goes stale while the other's goes on: the engine has one clock, so the other symbol waits,
  but for two candles at most; then the flaky symbol is left behind and the other trades on
  alone. The flaky one rejoins at the frontier (over its hole at once, or when its feed serves
  again), the candles of it that closed by then skipped, counted in the market-data module's
  status. Before any wait, the other symbol went on and the run failed when the held one
  resumed (the prediction ledger and the equity journal refuse time going back); with an
  unbounded wait, a symbol whose feed never recovered stalled every symbol.
* A symbol that rejoined after skipped candles has features whose windows span the hole: the
  risk engine's ``warm_up`` rule refuses its entries for the feature pipeline's warm-up
  (``risk/warm_up.py``: 97 candles with the base features), longer than what is left of the
  60 live hours, so the hold lasts to the end here; its exits are not refused. Before the rule,
  the entries of the symbol back from a hole were approved on its first candles after it
  (BTCUSDT's after a stale stretch, ETHUSDT's after a gap).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from quantum_trader.adapters.candle_store.store import CandleStore
from quantum_trader.adapters.sql.tables_risk import risk_decisions
from quantum_trader.app.configs import feature_config
from quantum_trader.app.live import LiveConnection
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.observability.logging import configure_logging
from quantum_trader.risk.warm_up import feature_warm_up
from tests.app import test_main_job_live
from tests.app.test_main_job_live import (
    HOUR,
    LIVE_HOURS,
    REPLAY_DAYS,
    SYMBOLS,
    FakeWall,
    Market,
    RecordedBinance,
    _settings,
)

#: the module fixture of the main job's live tests: the shared data cut LIVE_HOURS before its end
market = test_main_job_live.market

pytestmark = [pytest.mark.data, pytest.mark.slow]

MAX_AGE = 2 * HOUR  # risk/config.py: stale_data_max_age_ms
AGE = re.compile(r"^stale_data: last candle of (\w+) closed (\d+) s ago")


class FlakyBinance(RecordedBinance):
    """The recorded exchange, flaky for ``symbols``: the candle opening at ``hole`` is missing
    until the wall clock reaches ``healed_at`` (the later ones are served), and from ``lag[0]``
    to ``lag[1]`` (wall time) no candle closing after ``lag[0]`` is served (a stale feed: no
    error, no new candle)."""

    def __init__(
        self,
        market: Market,
        wall: FakeWall,
        symbols: tuple[str, ...],
        *,
        hole: int | None = None,
        healed_at: int = 0,
        lag: tuple[int, int] = (0, 0),
    ) -> None:
        ctrl_c_at = market.replay_end + (LIVE_HOURS + 2) * HOUR  # after the last candle
        super().__init__(market.after, wall, ctrl_c_at)
        self.symbols, self.hole, self.healed_at, self.lag = symbols, hole, healed_at, lag

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[list[Any]]:
        rows = super().fetch_ohlcv(symbol, timeframe, since, limit)
        if symbol.split("/")[0] + "USDT" not in self.symbols:
            return rows
        now = self.wall.now()
        if now < self.healed_at:
            rows = [r for r in rows if int(r[0]) != self.hole]
        if self.lag[0] <= now < self.lag[1]:
            rows = [r for r in rows if int(r[0]) + HOUR <= self.lag[0]]
        return rows


def _run(market: Market, home: Path, exchange: FlakyBinance) -> RunResult:
    wall = exchange.wall
    return run_main_job(
        _settings(home, market),
        connection=LiveConnection(client=lambda: exchange, wall=wall, sleep=wall.sleep),
    )


def _live_decisions(result: RunResult, after: int) -> list[Any]:
    with result.runtime.db.connect() as conn:
        return list(
            conn.execute(
                select(
                    risk_decisions.c.time,
                    risk_decisions.c.symbol,
                    risk_decisions.c.outcome,
                    risk_decisions.c.reasons_json,
                    risk_decisions.c.intent_json,
                ).where(risk_decisions.c.time > after)
            ).all()
        )


def _entry(row: Any) -> bool:
    return not json.loads(row.intent_json)["reduce_only"]


def _assert_every_candle_once(
    result: RunResult,
    market: Market,
    home: Path,
    skipped: Mapping[str, list[int]] | None = None,
    kept: Mapping[str, list[int]] | None = None,
) -> None:
    """Every live candle of every symbol, but the ``skipped`` ones (open times), went through the
    engine once, in order (the engine refuses a symbol's time going back); each is in the store
    once, and so are the skipped ones its feed served late (``kept``), never decided on."""
    skipped, kept = skipped or {}, kept or {}
    lost = sum(len(times) for times in skipped.values())
    late = sum(len(times) for times in kept.values())
    summary = result.summary
    assert summary["live"]["state"] == "stopped by Ctrl-C"
    live = len(SYMBOLS) * LIVE_HOURS - lost
    assert summary["live"]["candles"] == live
    assert summary["live"]["stored"] == live + late and summary["live"]["stored_late"] == late
    assert summary["decisions"] == len(SYMBOLS) * REPLAY_DAYS * 24 + live
    counters = result.runtime.status.get("market_data").status.counters
    assert counters["candles_processed"] == summary["decisions"]
    assert counters["live_feed_candles_kept_late"] == late
    store = CandleStore(home / "store")
    for symbol in SYMBOLS:
        opens = store.load(symbol, "1h")["open_time"]
        assert opens.is_unique and opens.is_monotonic_increasing
        gone = set(skipped.get(symbol, [])) - set(kept.get(symbol, []))
        stored = [t for t in market.after[symbol]["open_time"] if t not in gone]
        assert opens.iloc[-len(stored) :].tolist() == stored


def test_a_stale_feed_refuses_late_entries_and_trading_resumes_when_current(
    market: Market,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the operator log as `run` configures it (an earlier test in the session may have left
    # another format or level: structlog's configuration is global)
    configure_logging(run_id="stale-feed", fmt="console", level="INFO")
    start = market.replay_end
    switch = start + HOUR // 2  # no candle is older than the limit when the run goes live
    lag = (start + 12 * HOUR, start + 40 * HOUR)  # 28 hours of a feed that answers, stale
    resumed = lag[1]  # a poll falls on it: polls every POLL_S (10 min) from the switch
    wall = FakeWall(switch)
    home = tmp_path / "home"
    result = _run(market, home, FlakyBinance(market, wall, SYMBOLS, lag=lag))
    _assert_every_candle_once(result, market, home)

    rows = _live_decisions(result, switch)
    # nothing was decided while the feed was stale (the last current candle closed at lag[0])
    assert not [r for r in rows if lag[0] < r.time < resumed]
    stale = [
        r for r in rows if any(x.startswith("stale_data:") for x in json.loads(r.reasons_json))
    ]
    assert stale, "no entry was refused on a late candle"
    for row in stale:
        assert row.outcome == "REJECTED" and _entry(row) and row.time == resumed
        reason = next(x for x in json.loads(row.reasons_json) if x.startswith("stale_data:"))
        found = AGE.match(reason)
        assert found is not None and found[1] == row.symbol, reason
        close = resumed - int(found[2]) * 1000  # the candle decided on: a late one, too old
        assert lag[0] < close < resumed - MAX_AGE and close % HOUR == 0, reason
    # exits are not the rule's business; entries on current candles pass again
    assert not [r for r in rows if r.outcome == "REJECTED" and not _entry(r)]
    assert [r for r in rows if r.time > resumed and _entry(r) and r.outcome != "REJECTED"]
    # evidence: the risk module's status, the run summary and the operator log's refusals (all
    # three count the whole run: the replay refused nothing)
    counters = result.runtime.status.get("risk_safety").status.counters
    refused = [r for r in rows if r.outcome == "REJECTED"]
    assert counters["decisions_rejected"] == len(refused) == len(stale)
    assert result.summary["risk_decisions"]["REJECTED"] == len(stale)
    output = capsys.readouterr()
    assert f"by_rule={{'stale_data': {len(stale)}}}" in output.out + output.err


@pytest.mark.parametrize("flaw", ["gap", "stale"])
def test_one_symbol_held_past_the_bound_is_left_behind_and_rejoins_at_the_frontier(
    market: Market, tmp_path: Path, flaw: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """BTCUSDT's feed skips the candle closing at start + 6 h (served 6 hours late), or answers
    nothing new from start + 6 h to start + 12 h; ETHUSDT's is whole throughout. ETHUSDT waits
    for two candles (the source's bound), then goes on alone; BTCUSDT is left behind and rejoins
    at the frontier: over its hole at once (gap), or when its feed serves again (stale), the
    candles of it that closed by then skipped. Its entries are then held for the feature
    warm-up (rule ``warm_up``) to the end of the recorded data; its exits pass."""
    configure_logging(run_id="rejoin", fmt="console", level="INFO")  # the log lines checked
    start = market.replay_end
    switch = start + HOUR // 2
    # from the close of BTCUSDT's missing (gap) or last served (stale) candle to its resumption
    held = (start + 6 * HOUR, start + 12 * HOUR)
    flaky = {"hole": held[0] - HOUR, "healed_at": held[1]} if flaw == "gap" else {"lag": held}
    wall = FakeWall(switch)
    home = tmp_path / "home"
    exchange = FlakyBinance(market, wall, ("BTCUSDT",), **flaky)
    result = _run(market, home, exchange)  # before the bound: every symbol stalled meanwhile
    # gap: the hole only; stale: BTCUSDT's candles opening from 6 h until the frontier (11 h,
    # ETHUSDT's last close) when its feed came back at 12 h
    missing = [held[0] - HOUR] if flaw == "gap" else [held[0] + k * HOUR for k in range(5)]
    # stale: the skipped candles, served when the feed came back, are kept in the store (not
    # decided on); gap: the hole was served 6 h later, after a later candle settled it as lost
    kept = {} if flaw == "gap" else {"BTCUSDT": missing}
    _assert_every_candle_once(result, market, home, {"BTCUSDT": missing}, kept)
    counters = result.runtime.status.get("market_data").status.counters
    assert counters["live_feed_candles_skipped"] == len(missing)
    assert counters["live_feed_left_behind"] == 1
    assert counters["live_feed_gaps"] == (1 if flaw == "gap" else 0)
    assert counters["live_feed_symbols_left_behind"] == counters["live_feed_symbols_held"] == 0
    rows = _live_decisions(result, switch)
    # ETHUSDT decided on while BTCUSDT was still held (before the bound, it decided nothing
    # until BTCUSDT resumed): its held-back candles were at most two hours old, BTCUSDT's first
    # after rejoining current, so the stale-data rule refused nothing
    assert [r for r in rows if r.symbol == "ETHUSDT" and held[0] + 2 * HOUR <= r.time < held[1]]
    assert not [
        r for r in rows if any(x.startswith("stale_data:") for x in json.loads(r.reasons_json))
    ]
    # BTCUSDT's first candle after the hole: the one after the gap, or after its skipped ones;
    # its entries are held from there to the end. On this data, stale: its models try entries
    # 17 h and 18 h in, both refused (approved before the rule); gap: they try none after it
    # rejoins (the ETHUSDT test below holds more, and an exit)
    since = held[0] if flaw == "gap" else missing[-1] + HOUR
    warm = feature_warm_up(feature_config(_settings(home, market)), "1h")
    entries = _assert_entries_held_for_the_warm_up(
        result, rows, "BTCUSDT", since, len(missing), warm, capsys
    )
    assert entries if flaw == "stale" else not entries


def test_a_symbol_back_over_a_hole_has_its_entries_held_for_the_feature_warm_up(
    market: Market, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ETHUSDT's candle opening at start + 4 h is missing until start + 10 h (BTCUSDT's feed is
    whole): past the bound ETHUSDT is left behind and goes on over its hole at once, one candle
    skipped. Its features then span the hole for the pipeline's warm-up (97 candles), longer
    than the 55 live hours left: every ETHUSDT entry from there to the end is refused by
    ``warm_up`` (before the rule they were approved, as in a run whose feed is whole), while
    its exit of the position it held over the hole is approved."""
    configure_logging(run_id="warm-up", fmt="console", level="INFO")  # the log lines checked
    start = market.replay_end
    switch = start + HOUR // 2
    hole = start + 4 * HOUR
    wall = FakeWall(switch)
    home = tmp_path / "home"
    exchange = FlakyBinance(market, wall, ("ETHUSDT",), hole=hole, healed_at=start + 10 * HOUR)
    result = _run(market, home, exchange)
    _assert_every_candle_once(result, market, home, {"ETHUSDT": [hole]})
    rows = _live_decisions(result, switch)
    warm = feature_warm_up(feature_config(_settings(home, market)), "1h")
    assert warm == 97  # the base features' longest window (rvol_96) and one candle more
    since = hole + HOUR  # its first candle after the hole
    entries = _assert_entries_held_for_the_warm_up(result, rows, "ETHUSDT", since, 1, warm, capsys)
    # on this data ETHUSDT's models tried entries 19 h to 60 h in: each one refused
    assert len(entries) >= 3 and max(r.time for r in entries) - since > 40 * HOUR
    exits = [r for r in rows if r.symbol == "ETHUSDT" and not _entry(r) and r.time > since]
    assert exits and all(r.outcome == "APPROVED" for r in exits)


def _assert_entries_held_for_the_warm_up(
    result: RunResult,
    rows: list[Any],
    symbol: str,
    since: int,
    skipped: int,
    warm: int,
    capsys: pytest.CaptureFixture[str],
) -> list[Any]:
    """``symbol`` came back with its candle opening at ``since`` after ``skipped`` candles were
    skipped: from there to the end (the warm-up of ``warm`` candles outlasts the data) no
    entry of it is approved, each is refused by ``warm_up`` (journalled, counted in the risk
    module's status); no exit of it is refused; the other symbol is not held. A log line
    started the warm-up, none ended it. Returns its refused entries."""
    first_close = since + HOUR
    last = max(r.time for r in rows)
    assert (last - first_close) // HOUR + 1 < warm, "the data outlasts the warm-up now"
    mine = [r for r in rows if r.symbol == symbol and r.time >= first_close]
    entries = [r for r in mine if _entry(r)]
    for row in entries:
        reasons = json.loads(row.reasons_json)
        assert row.outcome == "REJECTED", (row.time, reasons)
        assert any(x.startswith(f"warm_up: {symbol} rejoined") for x in reasons), reasons
    assert not [r for r in mine if not _entry(r) and r.outcome == "REJECTED"]
    held = [r for r in rows if any(x.startswith("warm_up:") for x in json.loads(r.reasons_json))]
    assert len(held) == len(entries)  # none of the other symbol's, none before the rejoin
    counters = result.runtime.status.get("risk_safety").status.counters
    assert counters.get("entries_held_warm_up", 0) == len(entries)
    assert counters["warm_ups_started"] == counters["symbols_warming_up"] == 1
    output = capsys.readouterr()
    log = output.out + output.err
    started = [line for line in log.splitlines() if "risk.warm_up_started" in line]
    assert len(started) == 1 and f"symbol={symbol}" in started[0], started
    assert f"skipped={skipped}" in started[0] and f"candles={warm}" in started[0]
    assert "risk.warm_up_ended" not in log
    if entries:  # the operator log's refusals by rule (the replay refused nothing)
        assert f"'warm_up': {len(entries)}" in log
    return entries
