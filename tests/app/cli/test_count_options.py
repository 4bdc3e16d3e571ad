"""A count option of 0 is refused, not read as its default: ``evaluate`` took ``--folds 0`` or
``--train-days 0`` as "not given" (``folds or 8``) and ran a full walk-forward of 8 folds or
365 days; ``experiments show --audit 0`` printed the whole audit trail (``audit[-0:]``);
``study`` passed a 0 on to its folds."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.app.cli.main import app

CASES = [
    (["evaluate", "--folds", "0"], "--folds"),
    (["evaluate", "--train-days", "0"], "--train-days"),
    (["evaluate", "--test-days", "0"], "--test-days"),
    (["evaluate", "--system", "--folds", "0"], "--folds"),
    (["evaluate", "--system", "--train-days", "0"], "--train-days"),
    (["evaluate", "--system", "--embargo-hours", "-1"], "--embargo-hours"),
    (["evaluate", "--forecast-epochs", "0"], "--forecast-epochs"),
    (["experiments", "show", "any", "--audit", "0"], "--audit"),
    (["study", "studies/edge.toml", "--folds", "0"], "--folds"),
    (["study", "studies/edge.toml", "--train-days", "0"], "--train-days"),
]


@pytest.mark.parametrize(("args", "option"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_count_of_zero_is_refused_by_name(
    args: list[str], option: str, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    clean_env.setenv("QT_DATA_DIR", str(tmp_path))  # nothing to evaluate on, were it to start
    symbols = ["--symbols", "BTCUSDT"] if args[0] == "evaluate" else []
    result = CliRunner().invoke(app, [*args, *symbols], terminal_width=200)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output, result.output
