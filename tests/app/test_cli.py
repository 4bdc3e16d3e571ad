import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.app.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_home(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch = clean_env
    monkeypatch.setenv("QT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QT_OFFLINE", "true")  # no download, no live phase: tests stay offline
    # the command surface only: tree models on a month of history keep these runs short
    # (all four models through the whole pipeline: tests/app/test_main_job.py)
    monkeypatch.setenv("QT_TRAIN_DAYS", "30")
    monkeypatch.setenv("AI_ENGINE_ENSEMBLE_MODELS", '["xgb","lgbm"]')
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "home"


def test_status_before_any_run_says_so() -> None:
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1
    assert "No engine has run" in result.output


def test_run_without_data_says_how_to_provide_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_OFFLINE", "true")  # tests never reach the network
    result = runner.invoke(app, ["run"])
    assert result.exit_code != 0
    message = str(result.exception)
    assert "QT_DATA_DIR=" in message and "--synthetic" in message and "data import" in message
    assert "download attempted: skipped: QT_OFFLINE=true" in message


def test_synthetic_run_is_labelled_and_status_shows_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QT_REPLAY_DAYS", "5")
    result = runner.invoke(app, ["run", "--synthetic"])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC DATA" in result.output
    assert "SYNBTCUSDT" in result.output

    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0
    modules = {m["name"]: m for m in json.loads(status.output)}
    assert modules["market_data"]["state"] == "ACTIVE"
    assert modules["market_data"]["counters"]["candles_processed"] == 2 * 5 * 24
    assert modules["bus_and_policy"]["counters"]["events_published"] > 0
    table = runner.invoke(app, ["status"])
    assert "market_data" in table.output and "ACTIVE" in table.output
    # a generated market is no trial of the configuration: the ledger stays empty
    trials = runner.invoke(app, ["trials", "list"])
    assert trials.exit_code == 0 and "No trials recorded" in trials.output


def test_run_on_real_data_replays_the_configured_days(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    monkeypatch.setenv("QT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("QT_SYMBOLS", "BTCUSDT")
    monkeypatch.setenv("QT_REPLAY_DAYS", "3")
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert "2024-06-16T13:00:00Z" in result.output  # the last closed candle of the shared data
    modules = {m["name"]: m for m in json.loads(runner.invoke(app, ["status", "--json"]).output)}
    assert modules["market_data"]["counters"]["candles_processed"] == 72
    # the replay is a backtest trial of the system's configuration, over the replayed window
    recorded = re.search(r"trial #(\d+) recorded", result.output)
    assert recorded is not None, result.output
    listed = runner.invoke(app, ["trials", "list"], terminal_width=250)
    assert listed.exit_code == 0, listed.output
    (row,) = [line for line in listed.output.splitlines() if "│ system" in line]
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells[0] == recorded.group(1)  # (the gate's validations, if any, come first)
    assert cells[2:4] == ["backtest", "system"] and cells[6:8] == ["BTCUSDT", "1h"]
    # the 72 replayed candles, up to the last close; 72 equity points give 71 returns
    assert cells[8] == "2024-06-13 13:00 → 2024-06-16 13:00" and cells[10] == "71"


def test_config_show_redacts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_DATABASE_URL", "postgresql://trader:topsecret@db/qt")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0
    assert "topsecret" not in result.output
    shown = json.loads(result.output)
    assert shown["database_url"] == "postgresql://trader:**********@db/qt"
    assert shown["rl_sizing_enabled"] is True and shown["retrain_check_minutes"] == 30


def test_contradictory_config_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_ENGINE_ENSEMBLE_MODELS", '["xgb","lgbm"]')
    monkeypatch.setenv("AI_ENGINE_MIN_CONSENSUS", "3")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code != 0
    assert "AI_ENGINE_MIN_CONSENSUS=3" in str(result.exception)


def test_ctrl_c_ends_with_one_line_and_exit_code_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from sqlalchemy import select

    from quantum_trader.adapters.sql.tables import runs
    from quantum_trader.app import main_job
    from quantum_trader.app.cli.main import main
    from quantum_trader.app.runtime import Runtime, build_runtime
    from quantum_trader.config.settings import Settings

    started: list[Runtime] = []

    def interrupted(settings: Settings, *, run_id: str, **_kwargs: object) -> None:
        """Stopped during training: after the run was registered, before it could finish."""
        rt = build_runtime(settings, mode="replay", start_ms=0, run_id=run_id)
        rt.start()
        started.append(rt)
        raise KeyboardInterrupt

    monkeypatch.setattr(main_job, "run_main_job", interrupted)
    monkeypatch.setattr(sys, "argv", ["quantum-trader", "run"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 130
    out = capsys.readouterr().out
    assert "interrupted" in out and "Traceback" not in out
    with started[0].db.connect() as conn:
        status = conn.execute(select(runs.c.status)).scalar_one()
    assert status == "INTERRUPTED"
