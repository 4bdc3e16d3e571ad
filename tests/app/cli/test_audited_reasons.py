"""A command whose reason goes into an audit trail refuses a blank one, as ``risk kill-switch
on`` always did: ``risk reset-halt``, ``models promote``/``rollback`` and ``experiments stop``
recorded an empty reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.app.cli.main import app

CASES = [
    ["risk", "kill-switch", "on"],
    ["risk", "reset-halt"],
    ["models", "promote", "xgb/BTCUSDT/h4", "1"],
    ["models", "rollback", "xgb/BTCUSDT/h4"],
    ["experiments", "stop", "e1"],
]


@pytest.mark.parametrize("args", CASES, ids=" ".join)
@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_reason_is_refused(
    args: list[str], blank: str, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path))
    clean_env.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, [*args, "--reason", blank])
    assert result.exit_code == 2, result.output
    assert "Invalid value for --reason: say why" in result.output
