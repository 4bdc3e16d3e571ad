"""``quantum-trader trials list`` through Typer on a temporary home: what was recorded is shown,
with the annualised Sharpe ratio and the deflated Sharpe ratio's N and V."""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.app.cli.main import app
from quantum_trader.domain.time import MS_PER_DAY
from quantum_trader.evaluation.ledger import Trial, config_hash

runner = CliRunner()
START = 1_677_628_800_000  # 2023-03-01

TRIAL = Trial(
    kind="backtest",
    name="sma_cross",
    config_hash=config_hash({"fast": 10, "slow": 30}),
    code_version="abc1234-dirty",
    symbols=("BTCUSDT", "ETHUSDT"),
    timeframe="1h",
    data_start=START,
    data_end=START + 31 * MS_PER_DAY,
    seed=11,
    metrics={"total_return": -0.0312, "trade_count": 17},
    sharpe=0.0123,
    periods=743,
    recorded_at=START + 40 * MS_PER_DAY + 3_600_000,
)


@pytest.fixture
def ledger(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> SqlTrialLedger:
    clean_env.setenv("QT_HOME", str(tmp_path))
    clean_env.setenv("COLUMNS", "250")
    return SqlTrialLedger(open_database(f"sqlite:///{tmp_path / 'quantum_trader.sqlite'}"))


def _rows(output: str) -> dict[str, list[str]]:
    """The table's rows by id (first cell)."""
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in output.splitlines()]
    return {c[0]: c for c in cells if len(c) == 14 and c[0].isdigit()}


def test_a_recorded_trial_is_listed_with_its_figures(ledger: SqlTrialLedger) -> None:
    trial_id = ledger.record(TRIAL)
    result = runner.invoke(app, ["trials", "list"], terminal_width=250)
    assert result.exit_code == 0, result.output
    row = _rows(result.output)[str(trial_id)]
    assert row[1:4] == ["2023-04-10 01:00", "backtest", "sma_cross"]
    assert row[4] == TRIAL.config_hash[:10] and row[5] == "abc1234-dirty"
    assert row[6:8] == ["BTCUSDT,ETHUSDT", "1h"]
    assert row[8] == "2023-03-01 → 2023-04-01"
    assert row[9:11] == ["11", "743"]
    assert row[11] == f"{0.0123 * math.sqrt(365 * 24):.2f}"  # per candle → a 365-day year
    assert row[12:] == ["-3.12%", "17"]
    assert "N = 1 distinct configurations, V = 0 " in result.output


def test_kind_and_limit_filter_and_the_dsr_line_covers_the_whole_ledger(
    ledger: SqlTrialLedger,
) -> None:
    sharpes = [0.01, -0.02, 0.04]
    for i, sharpe in enumerate(sharpes):
        ledger.record(replace(TRIAL, config_hash=config_hash({"fast": i}), sharpe=sharpe))
    ledger.record(replace(TRIAL, config_hash=config_hash({"fast": 0}), sharpe=0.03))  # again
    baseline = replace(TRIAL, kind="evaluate", name="baseline:buy_and_hold", sharpe=0.9)
    baseline_id = ledger.record(baseline)
    quiet_id = ledger.record(replace(TRIAL, kind="validation", sharpe=None, metrics={}))

    listed = runner.invoke(app, ["trials", "list"], terminal_width=250)
    assert listed.exit_code == 0, listed.output
    rows = _rows(listed.output)
    assert list(rows) == [str(i) for i in range(quiet_id, 0, -1)]  # newest first
    assert rows[str(quiet_id)][11:] == ["n/a", "n/a", "n/a"]
    v = statistics.variance([0.02, -0.02, 0.04])  # fast=0 counted once, its Sharpe the mean
    assert f"N = 3 distinct configurations, V = {v:.4g} " in listed.output

    evaluations = runner.invoke(app, ["trials", "list", "--kind", "evaluate"], terminal_width=250)
    assert list(_rows(evaluations.output)) == [str(baseline_id)]
    assert "N = 3 distinct" in evaluations.output  # the DSR counts every kind, whatever --kind
    latest = runner.invoke(app, ["trials", "list", "--limit", "2"], terminal_width=250)
    assert list(_rows(latest.output)) == [str(quiet_id), str(baseline_id)]


def test_several_timeframes_get_a_line_each(ledger: SqlTrialLedger) -> None:
    ledger.record(TRIAL)
    ledger.record(replace(TRIAL, timeframe="4h", config_hash=config_hash({"tf": "4h"})))
    result = runner.invoke(app, ["trials", "list"], terminal_width=250)
    assert "N = 2 distinct" in result.output
    assert "  1h: N = 1, V = 0" in result.output and "  4h: N = 1, V = 0" in result.output


def test_an_empty_ledger_says_so(ledger: SqlTrialLedger) -> None:
    result = runner.invoke(app, ["trials", "list", "--kind", "validation"])
    assert result.exit_code == 0
    assert "No validation trials recorded" in result.output


def test_an_unknown_kind_is_refused(ledger: SqlTrialLedger) -> None:
    result = runner.invoke(app, ["trials", "list", "--kind", "paper"])
    assert result.exit_code == 2
    assert "evaluate, backtest, validation" in result.output
