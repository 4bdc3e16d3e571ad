"""The main job's live phase, offline: after the replay, the same run goes on with "live" closed
candles from a recorded Binance USDT-M (real candles that come after the replayed ones) on a wall
clock that only moves when the run sleeps, until Ctrl-C; QT_OFFLINE never touches the network;
an unreachable exchange ends the run as offline does.

The shared data is cut LIVE_HOURS before its end: the store replays up to the cut, the recorded
exchange answers with the hours after it. One offline run trains the tree models (module
fixture); every other run copies its home, so nothing trains twice and no run sees another's
store.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ccxt
import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from quantum_trader.adapters.candle_store.store import CandleStore
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.tables import runs
from quantum_trader.adapters.sql.tables_execution import exec_fills, exec_orders
from quantum_trader.app.cli.models import app as models_cli
from quantum_trader.app.live import LiveConnection
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.clock import SimulatedClock
from quantum_trader.config import load_settings
from quantum_trader.config.settings import Settings
from quantum_trader.domain.orders import Order
from quantum_trader.learning.registry import ModelKey, ModelRegistry
from quantum_trader.status import ModuleState

pytestmark = [pytest.mark.data, pytest.mark.slow]

HOUR = 3_600_000
SYMBOLS = ("BTCUSDT", "ETHUSDT")
REPLAY_DAYS = 2
LIVE_HOURS = 60  # candles per symbol the recorded exchange serves after the replay
CAUGHT_UP = 3  # of which had closed before the switch to wall time
POLL_S = 600.0  # fake seconds between polls: the wall clock moves only by these sleeps


class FakeWall:
    """A wall clock that only moves when the run sleeps."""

    def __init__(self, t: int) -> None:
        self.t = t

    def now(self) -> int:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += int(seconds * 1000)


class RecordedBinance:
    """fetch_ohlcv as Binance USDT-M answers through ccxt (rows [open ms, o, h, l, c, v], the
    forming candle included) from real candles; Ctrl-C (KeyboardInterrupt) once the wall clock
    reaches ``ctrl_c_at``."""

    def __init__(self, frames: dict[str, pd.DataFrame], wall: FakeWall, ctrl_c_at: int) -> None:
        self.frames = frames
        self.wall = wall
        self.ctrl_c_at = ctrl_c_at
        self.forming_served = 0  # rows whose candle had not closed yet when served

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[list[Any]]:
        now = self.wall.now()
        if now >= self.ctrl_c_at:
            raise KeyboardInterrupt
        frame = self.frames[symbol.split("/")[0] + "USDT"]
        rows = frame[(frame["open_time"] >= (since or 0)) & (frame["open_time"] <= now)]
        rows = rows.head(limit or 500)
        self.forming_served += int((rows["open_time"] + HOUR > now).sum())
        return rows.to_numpy().tolist()  # type: ignore[no-any-return]


class Unreachable:
    """What ccxt raises when the exchange cannot be reached."""

    def fetch_ohlcv(self, *_args: Any, **_kwargs: Any) -> list[list[Any]]:
        raise ccxt.NetworkError("binanceusdm GET https://fapi.binance.com/fapi/v1/exchangeInfo")


class Forbidden:
    """Fails on any use: proof that an offline run neither reaches the exchange nor the wall."""

    def __call__(self, *_args: Any) -> Any:
        raise AssertionError("an offline run touched the network or the wall clock")

    def now(self) -> int:
        return self()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Market:
    data_dir: Path  # the shared data, cut LIVE_HOURS before its end
    replay_end: int  # close of the last replayed candle
    after: dict[str, pd.DataFrame]  # the real candles after the cut (what the exchange serves)


def _is_setting(key: str) -> bool:
    return key.startswith(("QT_", "AI_ENGINE_", "ENABLE_")) or key.endswith("_ENABLED")


def _settings(home: Path, market: Market, **overrides: Any) -> Settings:
    """Tree models on a month of history, two days replayed; nothing from the caller's env."""
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if _is_setting(key):
                mp.delenv(key)
        return load_settings(
            home=home,
            data_dir=market.data_dir,
            symbols=list(SYMBOLS),
            replay_days=REPLAY_DAYS,
            train_days=30,
            ensemble_models=["xgb", "lgbm"],
            live_poll_seconds=POLL_S,
            **overrides,
        )


@pytest.fixture(scope="module")
def market(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Market:
    root = tmp_path_factory.mktemp("cut-data")
    full = {s: CandleStore(data_dir).load(s, "1h") for s in SYMBOLS}
    last_open = min(int(f["open_time"].iloc[-1]) for f in full.values())
    cut = last_open - LIVE_HOURS * HOUR  # open time of the last candle kept in the store
    for sub, name in (("ohlcv", "{}-1h.parquet"), ("funding", "{}-funding.parquet")):
        (root / sub).mkdir()
        for symbol in SYMBOLS:
            raw = pd.read_parquet(data_dir / sub / name.format(symbol))
            stamp = raw["timestamp"].astype("int64") // 1_000_000
            raw[stamp <= cut].to_parquet(root / sub / name.format(symbol))
    after = {
        s: f[(f["open_time"] > cut) & (f["open_time"] <= last_open)].reset_index(drop=True)
        for s, f in full.items()
    }
    assert all(len(f) == LIVE_HOURS for f in after.values())
    return Market(root, cut + HOUR, after)


@pytest.fixture(scope="module")
def offline(market: Market, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunResult]:
    """QT_OFFLINE=true, with an exchange and a wall clock that fail on any use; it also trains
    the models every other run here reuses."""
    home = tmp_path_factory.mktemp("trained") / "home"
    settings = _settings(home, market, offline=True)
    forbidden = Forbidden()
    result = run_main_job(
        settings, connection=LiveConnection(client=forbidden, wall=forbidden, sleep=forbidden)
    )
    result.runtime.db.dispose()  # checkpoints the SQLite WAL: the home can be copied
    yield result


def _copy_home(offline: RunResult, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(offline.runtime.settings.home, home)
    return home


def test_offline_stops_at_the_end_of_the_replay(offline: RunResult, market: Market) -> None:
    summary = offline.summary
    assert summary["live"] == {"state": "off", "reason": "QT_OFFLINE=true"}
    assert summary["decisions"] == len(SYMBOLS) * REPLAY_DAYS * 24
    assert offline.runtime.clock.now() == market.replay_end
    assert offline.metrics is not None and offline.outputs["report"].is_file()


def test_live_phase_continues_the_run_until_ctrl_c(
    offline: RunResult, market: Market, tmp_path: Path
) -> None:
    home = _copy_home(offline, tmp_path)
    switch = market.replay_end + CAUGHT_UP * HOUR + HOUR // 2  # 3 candles closed since the replay
    last_close = market.replay_end + LIVE_HOURS * HOUR
    wall = FakeWall(switch)
    exchange = RecordedBinance(market.after, wall, ctrl_c_at=last_close + 2 * HOUR)
    stages: list[str] = []
    result = run_main_job(
        _settings(home, market),
        on_stage=stages.append,
        connection=LiveConnection(client=lambda: exchange, wall=wall, sleep=wall.sleep),
    )
    summary, rt = result.summary, result.runtime

    live = summary["live"]
    assert live["state"] == "stopped by Ctrl-C"
    assert live["candles"] == len(SYMBOLS) * LIVE_HOURS
    assert live["caught_up"] == len(SYMBOLS) * CAUGHT_UP
    assert any(s.startswith("live on Binance USDT-M") for s in stages)
    assert rt.clock.now() == wall.now() > last_close  # the run's clock is the wall's now
    # every live candle went through the whole decision path, as the replayed ones did
    assert summary["decisions"] == offline.summary["decisions"] + len(SYMBOLS) * LIVE_HOURS
    assert summary["replay"] == offline.summary["replay"]  # the same replay, then live
    # forming candles were served on every poll and none was processed: the clock refuses a
    # candle before its close (LookAheadError), and the count above is the closed ones only
    assert exchange.forming_served > 0
    # orders and fills kept flowing through the same simulated exchange after the switch
    with rt.db.connect() as conn:
        live_orders = conn.execute(
            select(func.count())
            .select_from(exec_orders)
            .where(exec_orders.c.run_id == rt.run_id, exec_orders.c.created_at > switch)
        ).scalar_one()
        live_fills = conn.execute(
            select(func.count())
            .select_from(exec_fills)
            .where(exec_fills.c.run_id == rt.run_id, exec_fills.c.time > switch)
        ).scalar_one()
        run_status = conn.execute(
            select(runs.c.status, runs.c.mode).where(runs.c.run_id == rt.run_id)
        ).one()
    assert summary["orders_sent"] > offline.summary["orders_sent"]
    assert live_orders > 0 and live_fills > 0
    assert tuple(run_status) == ("FINISHED", "replay+live")
    # scheduled jobs ran at wall time: between live candles, and the daily shift check too
    jobs = rt.scheduler.jobs
    assert jobs["policy.refresh"].last_run is not None
    assert jobs["policy.refresh"].last_run > last_close
    assert jobs["covariate_shift.check"].last_run is not None
    assert jobs["covariate_shift.check"].last_run > market.replay_end
    # a graceful end: metrics, report, summary and every module's status, as offline
    assert result.metrics is not None
    assert result.outputs["report"].is_file() and result.outputs["summary"].is_file()
    assert "stopped by Ctrl-C" in result.outputs["report"].read_text()
    statuses = {s.name: s for s in rt.status.snapshot()}
    assert statuses["market_data"].state is ModuleState.ACTIVE
    assert statuses["market_data"].counters["candles_processed"] == summary["decisions"]
    # the live candles are in the local store: the next run replays up to where this one stopped
    store = CandleStore(home / "store")
    assert store.last_open_time("BTCUSDT", "1h") == last_close - HOUR
    assert live["stored"] == live["candles"]


def test_unreachable_exchange_ends_the_run_as_offline(
    offline: RunResult, market: Market, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = _copy_home(offline, tmp_path)
    forbidden = Forbidden()
    result = run_main_job(
        _settings(home, market),
        connection=LiveConnection(
            client=Unreachable, wall=FakeWall(market.replay_end), sleep=forbidden
        ),
    )
    live = result.summary["live"]
    assert live["state"] == "unreachable"
    assert live["reason"].startswith("NetworkError: binanceusdm GET")
    output = capsys.readouterr()
    lines = [line for line in (output.out + output.err).splitlines() if "unreachable" in line]
    assert len(lines) == 1 and "as with QT_OFFLINE=true" in lines[0], lines
    # the same run as offline: same replay, same decisions, same trades, same metrics
    for key in ("replay", "decisions", "signals", "orders_sent", "trades", "metrics"):
        assert result.summary[key] == offline.summary[key], key
    assert result.runtime.clock.now() == market.replay_end  # never left replay time


def test_ctrl_c_during_the_replay_records_the_run_as_interrupted(
    offline: RunResult, market: Market, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine, select

    from quantum_trader.adapters.sql.tables import runs

    home = _copy_home(offline, tmp_path)
    settings = _settings(home, market, offline=True)

    def stage(text: str) -> None:
        if text == "replaying":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_main_job(settings, run_id="interrupted-run", on_stage=stage)
    engine = create_engine(settings.effective_database_url)
    with engine.connect() as conn:
        status = conn.execute(
            select(runs.c.status).where(runs.c.run_id == "interrupted-run")
        ).scalar_one()
    engine.dispose()
    assert status == "INTERRUPTED"


class PromotingWall(FakeWall):
    """A fake wall clock that runs ``action`` once, at the first sleep from ``at`` on (while
    the running engine waits for the next candle, as an operator's command would land)."""

    def __init__(self, t: int, at: int, action: Callable[[], None]) -> None:
        super().__init__(t)
        self.at = at
        self.action: Callable[[], None] | None = action

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.action is not None and self.t >= self.at:
            action, self.action = self.action, None
            action()


def test_a_promotion_from_the_cli_reaches_the_running_engine(
    offline: RunResult, market: Market, tmp_path: Path
) -> None:
    home = _copy_home(offline, tmp_path)
    key = ModelKey("xgb", "BTCUSDT", 4)
    db = open_database(f"sqlite:///{home / 'quantum_trader.sqlite'}")
    registry = ModelRegistry(SqlRegistryRepository(db), SimulatedClock(0))
    v1 = registry.production(key)
    assert v1 is not None
    # a second version of the line waits as a CANDIDATE (the same weights: what is tested is
    # that the running engine serves whichever version is PRODUCTION, by number)
    v2 = registry.register(v1.lineage, v1.artifact_hash, actor="test", reason="retrained")
    db.dispose()
    switch = market.replay_end + CAUGHT_UP * HOUR + HOUR // 2
    last_close = market.replay_end + LIVE_HOURS * HOUR
    promoted_at: list[int] = []

    def promote() -> None:
        cli = CliRunner().invoke(
            models_cli,
            ["promote", str(key), str(v2.version), "--to", "PRODUCTION", "--reason", "better",
             "--by", "operator"],
            env={"QT_HOME": str(home), "QT_DATABASE_URL": ""},
        )  # fmt: skip
        assert cli.exit_code == 0, cli.output
        promoted_at.append(wall.now())

    wall = PromotingWall(switch, at=switch, action=promote)
    exchange = RecordedBinance(market.after, wall, ctrl_c_at=last_close + 2 * HOUR)
    result = run_main_job(
        _settings(home, market),
        connection=LiveConnection(client=lambda: exchange, wall=wall, sleep=wall.sleep),
    )
    rt = result.runtime
    assert promoted_at, "the live phase never waited for a candle"
    statuses = {s.name: s for s in rt.status.snapshot()}
    # the run that was running when the CLI promoted swapped the member: no restart
    assert statuses["model_registry"].counters.get("member_swaps") == 1, statuses[
        "model_registry"
    ].counters
    assert statuses["xgb"].state is ModuleState.ACTIVE
    assert f"v{v2.version}" in statuses["xgb"].reason
    # and decided with it: BTCUSDT's orders name xgb v1 before the promotion, v2 after
    with rt.db.connect() as conn:
        orders = conn.execute(
            select(exec_orders.c.created_at, exec_orders.c.decision_json).where(
                exec_orders.c.run_id == rt.run_id,
                exec_orders.c.symbol == "BTCUSDT",
                exec_orders.c.decision_json.is_not(None),
            )
        ).all()
    before = {m for t, d in orders if t < promoted_at[0] for m in json.loads(d)["members"]}
    after = {m for t, d in orders if t > promoted_at[0] for m in json.loads(d)["members"]}
    assert "xgb@1" in before and "xgb@2" not in before
    assert after <= {"xgb@2", "lgbm@1"} and (not after or "xgb@2" in after)


def _crashed_run(db: Any, settings: Settings, *, at: int) -> tuple[Order, str]:
    """An earlier run of this account that died RUNNING, its last checkpoint holding two
    unsent intents: the first reached the venue (returned, cancelled there since), the
    second's id (returned) never did."""
    from quantum_trader.adapters.sql.repository_execution import SqlExecutionStore
    from quantum_trader.app.venue import lineage_key
    from quantum_trader.domain.orders import OrderStatus, OrderType, Side
    from quantum_trader.execution.client_ids import IntentIds
    from quantum_trader.execution.store import CheckpointBatch

    ids = IntentIds(lineage_key(settings))
    sent, lost = (
        ids.client_order_id("BTCUSDT", f"BTCUSDT@{at - 1}", "entry", "BUY", rank) for rank in (0, 1)
    )
    with db.begin() as conn:
        conn.execute(
            runs.insert().values(
                run_id="crashed", mode="replay+live", started_at=at, status="RUNNING"
            )
        )
    state = json.dumps({"orders": {"unsent": [sent, lost]}})
    SqlExecutionStore(db).commit(CheckpointBatch("crashed", 1, at, False, state))
    order = Order(sent, "BTCUSDT", Side.BUY, OrderType.LIMIT, 0.01, at, 10_000.0)
    return order.transition(OrderStatus.CANCELED, at + 1, "canceled by client"), lost


def test_a_testnet_run_hands_the_account_to_the_venue_after_the_caught_up_candles(
    offline: RunResult, market: Market, tmp_path: Path
) -> None:
    """``run --venue testnet``: the replay and the caught-up candles trade on paper; from the
    first current candle the venue holds the account (its balance, the short it already had)
    and takes every order; its fills reach the same book, and the scheduled reconciliation
    finds the book equal to the venue (the kill switch stays off).

    Restart duties (docs/live.md, "Crash and restart"): an earlier run of the same account,
    found dead by the engine lock, left two intents committed before their request with no
    answer: the one the venue has is reported found, the one it lacks dropped and never sent;
    and from the handover on every order is committed before the venue sees it."""
    from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
    from quantum_trader.adapters.sql.tables_execution import ledger_entries
    from quantum_trader.app.run_options import RunOptions
    from quantum_trader.domain.positions import Position
    from quantum_trader.risk.kill_switch import KillSwitch

    from .netting_venue import NettingVenue

    home = _copy_home(offline, tmp_path)
    switch = market.replay_end + CAUGHT_UP * HOUR + HOUR // 2
    last_close = market.replay_end + LIVE_HOURS * HOUR
    wall = FakeWall(switch)
    exchange = RecordedBinance(market.after, wall, ctrl_c_at=last_close + 2 * HOUR)

    def close_now(symbol: str) -> float:
        frame = market.after[symbol]
        closed = frame[frame["open_time"] + HOUR <= wall.now()]
        return float(closed["close"].iloc[-1])

    settings = _settings(
        home, market, venue="testnet", binance_api_key="k" * 16, binance_api_secret="s" * 16
    )
    db = open_database(settings.effective_database_url)
    reached, lost = _crashed_run(db, settings, at=market.replay_end)
    committed_first: list[bool] = []

    class WriteAheadVenue(NettingVenue):
        def submit(self, order: Order, good_till: int | None = None) -> Order:
            with db.connect() as conn:  # the order is in the database before the venue has it
                held = select(exec_orders.c.client_order_id).where(
                    exec_orders.c.client_order_id == order.client_order_id
                )
                committed_first.append(conn.execute(held).first() is not None)
            return super().submit(order, good_till)

    venue = WriteAheadVenue(close_now, wall.now, balance=7_500.0)
    venue.orders[reached.client_order_id] = reached
    venue.held["ETHUSDT"] = Position("ETHUSDT", -0.5, 3_500.0, 2.0)
    result = run_main_job(
        settings,
        connection=LiveConnection(client=lambda: exchange, wall=wall, sleep=wall.sleep),
        options=RunOptions(remote=lambda _s: venue),
    )
    rt = result.runtime
    assert result.summary["live"]["state"] == "stopped by Ctrl-C"
    with rt.db.connect() as conn:
        handover = conn.execute(
            select(ledger_entries.c.time, ledger_entries.c.amount).where(
                ledger_entries.c.run_id == rt.run_id,
                ledger_entries.c.ref == "handover: venue balance",
            )
        ).one()
        orders = conn.execute(
            select(
                exec_orders.c.client_order_id, exec_orders.c.created_at, exec_orders.c.status
            ).where(exec_orders.c.run_id == rt.run_id)
        ).all()
        fill_ids = set(
            conn.execute(select(exec_fills.c.fill_id).where(exec_fills.c.run_id == rt.run_id))
            .scalars()
            .all()
        )
    at = handover.time
    assert at >= switch  # after the caught-up candles, at wall time
    # the paper orders before the handover never reached the venue; every order after did
    after = {cid: status for cid, t, status in orders if t >= at}
    assert venue.submits > 0 and set(venue.orders) - {reached.client_order_id} <= set(after)
    assert not any(cid in venue.orders for cid, t, _ in orders if t < at)
    # every venue fill is in the book's journal, once
    assert {f.fill_id for f in venue.fills} <= fill_ids and venue.fills
    # reconciliation ran on the engine clock and found nothing it could not explain
    jobs = rt.scheduler.jobs
    assert jobs["venue.reconcile"].last_run is not None
    assert jobs["venue.reconcile"].last_run > at
    switch_state = KillSwitch(SqlRiskRepository(rt.db), rt.clock).state()
    assert not switch_state.engaged, switch_state.reason
    # the crashed run's intents: looked up, reported, the lost one not sent
    counters = rt.status.get("execution").status.counters
    assert counters["crashed_intents_found"] == 1
    assert counters["crashed_intents_dropped"] == 1
    assert lost not in venue.orders
    # write-ahead: every venue order was in the database before its request
    assert committed_first and all(committed_first)
