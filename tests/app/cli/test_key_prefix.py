"""A Redis key prefix is refused by name when it is empty, has a space or a pattern character,
or would reach into another prefix's keys (``qt:dead``; ``adapters/redis_keys.py``):
``service market-data --stream-prefix ""`` published the replay on ``:market.candle.closed``,
and ``dead-letters`` reads its streams with the pattern ``PREFIX:dead:*``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.app.cli.main import app

UNREACHABLE = "redis://127.0.0.1:1"
COMMANDS = {
    "service market-data": (["service", "market-data", "--stream-prefix"], "--stream-prefix"),
    "service engine": (["service", "engine", "--stream-prefix"], "--stream-prefix"),
    "up": (["up", "--stream-prefix"], "--stream-prefix"),
    "dead-letters list": (["dead-letters", "list", "--prefix"], "--prefix"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("prefix", ["", "a b", "q*", "qt[1]", "qt:dead", "a::b"])
def test_a_bad_prefix_is_refused_by_name(
    command: str, prefix: str, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path))
    clean_env.setenv("COLUMNS", "200")
    args, option = COMMANDS[command]
    result = CliRunner().invoke(app, [*args, prefix, "--redis-url", UNREACHABLE])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}': Redis key prefix {prefix!r}: " in result.output


def test_a_namespaced_prefix_passes_the_check(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path))
    args = ["dead-letters", "list", "--prefix", "qt:prod", "--redis-url", UNREACHABLE]
    result = CliRunner().invoke(app, args)
    assert "Redis does not answer" in str(result.exception), result.output  # checked, then ran


def test_synthetic_refuses_a_negative_seed_by_name(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("COLUMNS", "200")
    args = ["data", "synthetic", "--seed", "-1", "--store", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "Invalid value for '--seed'" in result.output, result.output
