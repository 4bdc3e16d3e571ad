"""``quantum-trader backtest`` records its trial in the home's ledger: a rerun of the same
configuration is another trial of the same configuration, other parameters a new one."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.app.cli.main import app
from quantum_trader.domain.time import from_datetime

runner = CliRunner()
START, END = "2023-03-01", "2023-04-01"


def _ms(day: str) -> int:
    return from_datetime(datetime.fromisoformat(day + "T00:00+00:00"))


@pytest.mark.data
def test_a_backtest_records_a_trial_and_trials_list_shows_it(
    data_dir: Path, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    clean_env.setenv("QT_HOME", str(home))
    clean_env.setenv("COLUMNS", "250")
    args = ["backtest", "--symbols", "BTCUSDT", "ETHUSDT", "--start", START, "--end", END]
    args += ["--fast", "5", "--slow", "12", "--seed", "3", "--data-dir", str(data_dir)]

    first = runner.invoke(app, [*args, "--out", str(tmp_path / "one")])
    assert first.exit_code == 0, first.output
    assert "trial #1 recorded" in first.output
    ledger = SqlTrialLedger(open_database(f"sqlite:///{home / 'quantum_trader.sqlite'}"))
    (trial,) = ledger.trials()
    written = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert (trial.kind, trial.name, trial.parent) == ("backtest", "sma_cross", written["run_id"])
    assert trial.symbols == ("BTCUSDT", "ETHUSDT") and trial.timeframe == "1h"
    assert (trial.data_start, trial.data_end, trial.seed) == (_ms(START), _ms(END), 3)
    assert dict(trial.metrics) == written["metrics"]
    assert trial.periods == 31 * 24 - 1 and trial.sharpe is not None

    again = runner.invoke(app, [*args, "--out", str(tmp_path / "two")])
    other = runner.invoke(app, [*args, "--fast", "6", "--out", str(tmp_path / "three")])
    assert again.exit_code == 0 and other.exit_code == 0, again.output + other.output
    newest, rerun, _ = ledger.trials()
    assert rerun.config_hash == trial.config_hash and rerun.sharpe == trial.sharpe
    assert newest.config_hash != trial.config_hash

    listed = runner.invoke(app, ["trials", "list", "--kind", "backtest"], terminal_width=250)
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("sma_cross") == 3 and trial.config_hash[:10] in listed.output
    assert "N = 2 distinct configurations" in listed.output
