"""``quantum-trader paper`` is the main job's decision path: every order behind the risk engine,
which reads the home's kill switch even though a paper replay keeps a database of its own
(issue 22 Part A item 1: the former fixed-SMA paper session placed 28 orders with the switch
engaged)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.tables_execution import exec_orders
from quantum_trader.adapters.sql.tables_risk import risk_decisions
from quantum_trader.app.cli.paper import app, paper_window, throttle_seconds
from quantum_trader.app.cli.risk import app as risk_app
from quantum_trader.domain.errors import ConfigError

runner = CliRunner()
START, END = "2023-03-01", "2023-03-11"  # 240 hourly candles
HOUR = 3_600_000


def _paper(data_dir: Path, *extra: str) -> str:
    window = ["--symbols", "BTCUSDT", "--start", START, "--end", END]
    result = runner.invoke(app, [*window, "--data-dir", str(data_dir), *extra])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _runs(db: Engine) -> list[str]:
    with db.connect() as conn:
        return [r for (r,) in conn.execute(select(exec_orders.c.run_id).distinct())]


def _decisions(db: Engine, run_id: str) -> dict[str, int]:
    """The run's risk decisions by outcome (their ids start with the run id)."""
    with db.connect() as conn:
        rows = conn.execute(
            select(risk_decisions.c.outcome, func.count())
            .where(risk_decisions.c.decision_id.like(f"{run_id}:risk:%"))
            .group_by(risk_decisions.c.outcome)
        ).all()
    return {outcome: int(n) for outcome, n in rows}


def _orders(db: Engine, run_id: str) -> int:
    with db.connect() as conn:
        query = select(func.count()).where(exec_orders.c.run_id == run_id)
        return int(conn.execute(query.select_from(exec_orders)).scalar_one())


@pytest.mark.data
@pytest.mark.slow
def test_paper_places_no_order_while_the_homes_kill_switch_is_engaged(
    data_dir: Path, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    clean_env.setenv("QT_HOME", str(home))
    clean_env.setenv("QT_TRAIN_DAYS", "60")
    clean_env.setenv("AI_ENGINE_ENSEMBLE_MODELS", "xgb,lgbm")
    clean_env.setenv("COLUMNS", "200")
    engaged = runner.invoke(risk_app, ["kill-switch", "on", "--reason", "paper test"])
    assert engaged.exit_code == 0 and "ENGAGED" in engaged.output, engaged.output

    _paper(data_dir, "--speed", "1e9", "--run-id", "paper-halted")
    (window_home,) = (home / "backtests").iterdir()  # the replay's own database
    db = open_database(f"sqlite:///{window_home / 'quantum_trader.sqlite'}")
    halted = _decisions(db, "paper-halted")
    # the decision path ran and asked the risk engine, which refused every order
    assert sum(halted.values()) > 0 and set(halted) == {"REJECTED"}, halted
    assert _orders(db, "paper-halted") == 0
    with db.connect() as conn:
        reasons = [r for (r,) in conn.execute(select(risk_decisions.c.reasons_json))]
    assert all("kill switch" in r for r in reasons), reasons[:3]

    released = runner.invoke(risk_app, ["kill-switch", "off"])
    assert released.exit_code == 0, released.output
    # the same window again (its models are reused), paced: 240 candles at 86,400x real
    # time, 1/24 s each, take at least 10 s
    started = time.perf_counter()
    _paper(data_dir, "--speed", "86400", "--run-id", "paper-free")
    assert time.perf_counter() - started >= 240 / 24
    free = _decisions(db, "paper-free")
    assert free.get("APPROVED", 0) > 0, free
    assert _orders(db, "paper-free") > 0
    assert set(_runs(db)) == {"paper-free"}


def test_the_speed_paces_each_candle() -> None:
    assert throttle_seconds("1h", 3600.0, 1) == pytest.approx(1.0)
    assert throttle_seconds("1h", 3600.0, 2) == pytest.approx(0.5)  # one sleep per symbol
    assert throttle_seconds("15m", 60.0, 1) == pytest.approx(15.0)
    for bad in (0.0, -1.0, float("nan"), float("inf")):  # NaN paced the replay at no speed
        with pytest.raises(typer.BadParameter, match="must be a finite number > 0"):
            throttle_seconds("1h", bad, 1)


def test_max_candles_cuts_the_window() -> None:
    assert paper_window(0, 100 * HOUR, "1h", 24) == (0, 24 * HOUR)
    assert paper_window(0, 10 * HOUR, "1h", 24) == (0, 10 * HOUR)
    with pytest.raises(ConfigError, match="--start and --end"):
        paper_window(None, 10 * HOUR, "1h", None)
    with pytest.raises(ConfigError, match="must be after"):
        paper_window(10 * HOUR, 10 * HOUR, "1h", None)


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--fast", "10", "full decision path"),
        ("--slow", "30", "full decision path"),
        ("--notional", "1000", "sizer"),
        ("--db", "sqlite:///x.sqlite", "kill switch is the home's"),
    ],
)
def test_the_sma_sessions_options_are_refused_with_what_replaced_them(
    option: str, value: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # the error on one line
    result = runner.invoke(
        app, ["--symbols", "BTCUSDT", "--start", START, "--end", END, option, value]
    )
    assert result.exit_code == 2
    assert "no longer applies" in result.output and says in result.output, result.output


def test_live_candles_refuse_a_window(clean_env: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["--symbols", "BTCUSDT", "--live-candles", "--start", START])
    assert isinstance(result.exception, ConfigError)
    assert "--live-candles" in str(result.exception)
