"""``backtest`` and ``paper`` refuse a bad option in one line before anything runs (issue 22,
Part A item 5: the settings refused these values, the backtest's own options took them: a
negative slippage turned a loss into a gain, a NaN or an unknown timeframe ended in a traceback,
an ``--out`` that cannot be created failed after the whole replay)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.app.cli.main import app
from quantum_trader.domain.errors import ConfigError

WINDOW = ["--symbols", "BTCUSDT", "--start", "2023-01-01", "--end", "2023-01-05"]

CASES = {
    "negative slippage": (["--slippage-bps", "-50"], "--slippage-bps -50.0: must be"),
    "negative leverage": (["--leverage", "-2"], "--leverage -2.0: must be a finite number > 0"),
    "NaN balance": (["--balance", "nan"], "--balance nan: must be a finite number > 0"),
    "infinite notional": (["--notional", "inf"], "--notional inf: must be"),
    "NaN funding": (["--funding-rate", "nan"], "--funding-rate nan: must be"),
    "negative fee": (["--taker-fee", "-0.001"], "--taker-fee -0.001: must be"),
    "unknown timeframe": (["--timeframe", "7x"], "--timeframe: unknown timeframe '7x'"),
    "no date": (["--end", "soon"], "--end 'soon': not an ISO date"),
    "negative seed": (["--seed", "-1"], "--seed -1: must be an integer >= 0"),
    "huge seed": (["--seed", str(2**64)], f"--seed {2**64}: must be an integer >= 0"),
}


@pytest.mark.parametrize("strategy", ["sma_cross", "ai"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_option_is_refused_before_the_replay(
    case: str, strategy: str, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.chdir(tmp_path)
    extra, message = CASES[case]
    args = ["backtest", *WINDOW, "--strategy", strategy, *extra, "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ConfigError), result.output
    assert message in str(result.exception)
    assert not (tmp_path / "home").exists() and not (tmp_path / "reports").exists()


def test_an_out_folder_that_cannot_be_made_is_refused_before_the_replay(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = ["backtest", *WINDOW, "--out", str(blocker / "out"), "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ConfigError), result.output
    assert f"--out {blocker / 'out'}: cannot create it" in str(result.exception)
    assert not (tmp_path / "home").exists()


def test_paper_names_its_date_option(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    args = ["paper", "--symbols", "BTCUSDT", "--start", "yesterday", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ConfigError), result.output
    assert "--start 'yesterday': not an ISO date" in str(result.exception)


@pytest.mark.parametrize("command", ["paper", "backtest"])
@pytest.mark.parametrize("run_id", ["../../escaped", "a b/../x", ".hidden", "x" * 65])
def test_a_run_id_that_cannot_name_a_folder_is_refused(
    command: str, run_id: str, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """``paper --run-id ../../escaped`` wrote its report two folders above ``HOME/runs``."""
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.setenv("COLUMNS", "200")
    clean_env.chdir(tmp_path)
    args = [command, *WINDOW, "--run-id", run_id, "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '--run-id': run id {run_id!r}: use 1 to 64" in result.output
    assert not (tmp_path / "home").exists() and not (tmp_path / "escaped").exists()


def test_paper_refuses_an_unknown_timeframe_in_one_line(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """It ended in a traceback from the candle store (exit 1)."""
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    args = ["paper", *WINDOW, "--timeframe", "7m", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ConfigError), result.output
    assert "--timeframe: unknown timeframe '7m'" in str(result.exception)
    assert not (tmp_path / "home").exists()
