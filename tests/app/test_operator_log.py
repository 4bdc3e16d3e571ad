"""What a run logs for its operator (issue 22 Part A item 6: a whole run used to log two lines
even at DEBUG): run start and end, trainings with their version, risk-state and risk-mode
changes, refused orders counted (not one line each), stage changes, crashes; and the audit
trail names the run as the actor, with engine and wall-clock times."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.adapters.sql.repositories_risk import SqlRiskRepository
from quantum_trader.app.main_job import run_main_job
from quantum_trader.app.operator_log import OperatorLog, log_run_failure
from quantum_trader.bus import topics
from quantum_trader.bus.in_process import InProcessBus
from quantum_trader.bus.typed import publish_event
from quantum_trader.clock.clock import SimulatedClock, WallClock
from quantum_trader.config import load_settings
from quantum_trader.data.synthetic import SyntheticConfig, generate_market
from quantum_trader.domain.errors import DataError, NothingToServeError
from quantum_trader.domain.events import ModelStageChange
from quantum_trader.domain.orders import OrderIntent, Side
from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.risk import Outcome, RiskDecision, TradingState
from quantum_trader.learning.registry import ModelKey
from quantum_trader.observability.logging import configure_logging
from quantum_trader.risk.kill_switch import KillSwitch


def _lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def _events(lines: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return [r for r in lines if r["event"] == name]


def _decision(n: int, outcome: Outcome, reasons: tuple[str, ...]) -> RiskDecision:
    intent = OrderIntent(symbol="BTCUSDT", side=Side.BUY, quantity=0.01)
    return RiskDecision(
        f"r:{n}", outcome, intent, 0.0, reasons, n, TradingState.HALTED, RiskMode.MODERATE
    )


def test_refusals_are_counted_and_stage_changes_and_failures_logged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(run_id="t", fmt="json")
    clock = SimulatedClock(0)
    bus = InProcessBus(clock)
    oplog = OperatorLog(clock, refusals_every=2)
    oplog.attach(bus)
    capsys.readouterr()
    for n in range(5):
        reasons = ("size: trimmed to 0.005", "kill_switch: engaged by cli:ops")
        publish_event(
            bus, topics.RISK_DECISION, _decision(n, Outcome.REJECTED, reasons), source="t"
        )
    publish_event(bus, topics.RISK_DECISION, _decision(9, Outcome.APPROVED, ()), source="t")
    publish_event(
        bus,
        topics.MODEL_STAGE_CHANGED,
        ModelStageChange(
            "xgb", "BTCUSDT", 4, 3, "CANARY", "PRODUCTION", "PROMOTE", "cli:ops", "won", 7
        ),
        source="t",
    )
    oplog.close()
    log_run_failure(NothingToServeError("no order can be placed: x"))
    log_run_failure(ZeroDivisionError("division by zero"))
    lines = _lines(capsys.readouterr().err)
    counts = _events(lines, "risk.refusals")
    # a line at 2 and 4 refusals, then the summary: never one line per refusal
    assert [c["refused"] for c in counts] == [2, 4, 5]
    assert counts[-1]["by_rule"] == {"kill_switch": 5} and counts[-1]["decisions"] == 6
    (stage,) = _events(lines, "model.stage_changed")
    assert (stage["line"], stage["version"], stage["to_stage"], stage["by"]) == (
        "xgb/BTCUSDT/h4",
        3,
        "PRODUCTION",
        "cli:ops",
    )
    (failed,) = _events(lines, "run.failed")
    assert failed["level"] == "error" and "no order can be placed" in str(failed["error"])
    (crashed,) = _events(lines, "run.crashed")
    assert "ZeroDivisionError" in str(crashed["error"]) and "where" in crashed
    publish_event(bus, topics.RISK_DECISION, _decision(10, Outcome.REJECTED, ("x",)), source="t")
    assert oplog.decisions == 6  # closed: unsubscribed


def test_a_run_that_cannot_read_its_market_data_logs_why(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An integrity failure met before the run starts (a stored page failing its checksum) is
    in the log too, not only in the command's error line."""
    home = tmp_path / "home"
    clean_env.setenv("QT_HOME", str(home))
    clean_env.setenv("QT_OFFLINE", "true")
    clean_env.setenv("QT_SYMBOLS", "BTCUSDT")
    store = CandleStore(home / "store")
    (series,) = generate_market(SyntheticConfig(seed=1, candles=600), ["BTCUSDT"])
    store.write("BTCUSDT", "1h", series.frame)
    path = store.ohlcv_path("BTCUSDT", "1h")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 4] ^= 0x10  # inside the column chunks: a page fails its CRC
    path.write_bytes(bytes(raw))
    configure_logging(run_id="t", fmt="json")
    capsys.readouterr()

    with pytest.raises(DataError, match="BTCUSDT-1h"):
        run_main_job(load_settings())
    (failed,) = _events(_lines(capsys.readouterr().err), "run.failed")
    assert failed["level"] == "error" and str(path) in str(failed["error"])


@pytest.mark.slow
def test_a_short_run_logs_what_an_operator_needs(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    for key, value in {
        "QT_HOME": str(home),
        "QT_DATA_DIR": str(data_dir),
        "QT_REPLAY_DAYS": "4",
        "QT_TRAIN_DAYS": "60",
        "QT_OFFLINE": "true",
        "QT_ENTRY_COST_GATE": "false",  # entries reach the risk engine, to be refused there
        "AI_ENGINE_ENSEMBLE_MODELS": "xgb,lgbm",
        "AI_ENGINE_MIN_CONSENSUS": "1",
        # the log of a run that only trades: continuous learning's lines are its own test's
        "CONTINUOUS_LEARNING_ENABLED": "false",
        "MODEL_SUPERVISOR_ENABLED": "false",
    }.items():
        clean_env.setenv(key, value)
    settings = load_settings()
    db = open_database(settings.effective_database_url)
    KillSwitch(SqlRiskRepository(db), WallClock()).engage("exchange incident", by="cli:ops")
    configure_logging(run_id="t", fmt="json")
    capsys.readouterr()

    result = run_main_job(settings)
    lines = _lines(capsys.readouterr().err)
    run_id = result.run_id
    (start,) = _events(lines, "run.start")
    assert start["mode"] == "replay" and start["symbols"] == ["BTCUSDT", "ETHUSDT"]
    trained = _events(lines, "model.trained")
    assert sorted(str(t["line"]) for t in trained) == [
        "lgbm/BTCUSDT/h4",
        "lgbm/ETHUSDT/h4",
        "xgb/BTCUSDT/h4",
        "xgb/ETHUSDT/h4",
    ]
    assert all(t["version"] == 1 and t["by"] == f"engine:{run_id}" for t in trained)
    modes = _events(lines, "risk.mode")
    assert modes and modes[0]["mode"] == "MODERATE", "the risk mode the run starts in"
    assert str(modes[0]["at"]).startswith(str(start["replay_start"])[:10])  # engine time
    halted = _events(lines, "risk.trading_state")
    assert halted and halted[0]["state"] == "HALTED" and halted[0]["level"] == "warning"
    assert "kill switch" in str(halted[0]["reason"]) and halted[0]["by"] == f"engine:{run_id}"
    refusals = _events(lines, "risk.refusals")[-1]
    assert refusals["refused"] == result.summary["risk_decisions"]["REJECTED"] > 0
    (finish,) = _events(lines, "run.finish")
    assert finish["status"] == "FINISHED" and finish["orders_sent"] == 0
    # a replay of hundreds of candles is still a short log: nothing per candle or per decision
    assert len(lines) < 40, [r["event"] for r in lines]

    # the audit trail: the run is the actor, at the engine's (replayed) time and the wall's
    trail = SqlRegistryRepository(db).history(ModelKey("xgb", "BTCUSDT", 4))
    assert {c.actor for c in trail} == {f"engine:{run_id}"}
    assert all(c.recorded_at is not None and c.recorded_at > c.at for c in trail)
    state = SqlRiskRepository(db).latest_state_recorded()
    assert state is not None and state[0].by == f"engine:{run_id}"
    assert state[1] is not None and state[1] > state[0].at
    mode = SqlRiskRepository(db).latest_mode_change()
    assert mode is not None and mode.by == f"engine:{run_id}" and mode.recorded_at is not None
