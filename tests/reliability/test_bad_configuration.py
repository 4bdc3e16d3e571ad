"""Bad configuration (issue 22, Part B item 5): every setting with a nonsense value fails at
start with one line naming the variable and what it accepts, a non-zero exit, no traceback.

The cases are derived from the ``Settings`` model itself, field by field and by type, so a new
setting is covered the day it is added — or this test fails, asking for its nonsense values
(:func:`nonsense`). All of them go through the settings loader in-process; a sample, and the
settings only the start-up checks can judge (folders, the database URL), go through the console
script in a subprocess, as an operator runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
from pydantic import SecretStr

from quantum_trader.config.settings import (
    NOT_BUILT,
    NUMERIC_BOUNDS,
    Settings,
    env_name,
    load_settings,
)
from quantum_trader.domain.errors import ConfigError

#: a value that must never be echoed when the setting holds a secret
CANARY = "canary-4711-not-a-key"
#: judged when a run starts (a folder is written, the database opened), not by the loader
START_CHECKED = {"home", "data_dir", "store_dir", "artifacts_dir", "database_url"}


def _number(value: float, integer: bool) -> str:
    return str(int(value)) if integer else repr(float(value))


def _numeric(field: str, integer: bool) -> list[str]:
    bounds = NUMERIC_BOUNDS[field]
    below = bounds.low - max(1.0, abs(bounds.low))
    values = ["abc", "", "nan", "inf", _number(below, integer)]
    values.append(_number(bounds.high * 10 + 1, integer))
    if bounds.low_open:
        values.append(_number(bounds.low, integer))
    if integer:
        values.append("1.5")
    return values


def nonsense(field: str) -> list[str]:
    """Values of ``field`` no operator can mean, chosen from its type and rules."""
    annotation = Settings.model_fields[field].annotation
    base = typing.get_origin(annotation)
    if field in NUMERIC_BOUNDS:
        return _numeric(field, annotation is int)
    if field == "live":  # real money: only the exact word (issue 23's strict gate)
        return ["1", "yes", "True", "on", "maybe", ""]
    if field in ("binance_api_key", "binance_api_secret"):
        return ["   ", "\t"]
    if annotation is bool:
        return ["maybe", "2", ""]
    if base is typing.Literal:
        return ["nope", ""]
    if field == "min_consensus":  # bounded by the number of models (a contradiction check)
        return ["abc", "1.5", "0", "-1", "99"]
    if field == "symbols":
        return ['["BTCUSDT"', "", " , ", "BTCUSDT,ETHUSDT,BTCUSDT"]
    if field == "ensemble_models":
        return ['["xgb"', "", "xgb,lstm", "xgb,xgb"]
    if field == "timeframe":
        return ["7m", "", "1H", "hourly"]
    if field == "ab_experiment":
        return ["has space", "../etc", "x" * 101, "-leading-dash"]
    if field == "api_host":
        return ["has space", "http://0.0.0.0/", "x" * 300]
    if field == "api_username":
        return ["has space", "x" * 101, "a/b"]
    if field == "api_password":  # weak values; empty is accepted (serve refuses to start)
        return ["admin", "changeme", "Password"]
    if field == "api_secret":
        return ["changeme", "short-one", "Secret", "x" * 31]
    if field == "ray_address":  # empty is unset; set with the process backend: a contradiction
        return ["http://head:6379", "head", "has space:1"]
    if field == "redis_url":  # empty is unset
        return ["localhost:6379", "http://cache:6379", "redis://has space"]
    if field in NOT_BUILT:  # anything set is refused, naming the issue it waits for
        return [CANARY]
    raise AssertionError(
        f"setting {field} ({annotation}) has no nonsense values in this test: add them to "
        "nonsense(), or to START_CHECKED with a subprocess case below"
    )


def _loader_cases() -> list[tuple[str, str]]:
    return [
        (field, value)
        for field in Settings.model_fields
        if field not in START_CHECKED
        for value in nonsense(field)
    ]


def _accepted_shown(field: str, line: str) -> bool:
    """The line says what the setting accepts."""
    annotation = Settings.model_fields[field].annotation
    if typing.get_origin(annotation) is typing.Literal:  # pydantic lists the choices
        return all(repr(choice) in line for choice in typing.get_args(annotation))
    if field in NOT_BUILT and annotation is not bool:
        return "unset it" in line
    return "accepted: " in line


def test_every_setting_is_covered() -> None:
    """A setting added to the model is either given nonsense values or checked at start."""
    for field in Settings.model_fields:
        assert field in START_CHECKED or nonsense(field)
    assert set(Settings.model_fields) >= START_CHECKED


@pytest.mark.parametrize(("field", "value"), _loader_cases())
def test_a_nonsense_value_is_one_line_naming_the_variable_and_what_it_accepts(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, field: str, value: str
) -> None:
    variable = env_name(field)
    clean_env.setenv("QT_HOME", str(tmp_path))
    clean_env.setenv(variable, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    line = str(err.value)
    assert "\n" not in line
    assert variable in line, line
    assert _accepted_shown(field, line), line
    annotation = Settings.model_fields[field].annotation
    secret = isinstance(annotation, types.UnionType) and SecretStr in typing.get_args(annotation)
    if secret:
        assert value not in line  # never echoed


def _cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "AI_ENGINE_"))}
    clean = {k: v for k, v in clean.items() if not k.startswith("ENABLE_")}
    clean = {k: v for k, v in clean.items() if not k.endswith("_ENABLED")}
    command = [sys.executable, "-c", "from quantum_trader.app.cli.main import main; main()"]
    return subprocess.run(
        [*command, *argv],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _subprocess_cases(tmp: Path) -> list[tuple[str, str, str]]:
    """(variable, value, words of the line): the start-up checks the loader cannot make, and a
    sample of the others (QT_HOME, QT_STORE_DIR and more database URLs: test_config_errors.py)."""
    missing = str(tmp / "no-such-folder")
    return [
        ("QT_ARTIFACTS_DIR", str(tmp / "a-file" / "x"), "QT_ARTIFACTS_DIR: cannot write"),
        ("QT_DATA_DIR", missing, f"QT_DATA_DIR={missing}: no such folder"),
        ("QT_DATABASE_URL", "nonsense", "QT_DATABASE_URL: not a database URL"),
        ("QT_SLIPPAGE_BPS", "-50", "QT_SLIPPAGE_BPS='-50': out of range; accepted: "),
        ("ENABLE_DRIFT_DETECTION", "maybe", "accepted: true or false"),
        ("AI_ENGINE_ENSEMBLE_MODELS", "", "AI_ENGINE_ENSEMBLE_MODELS is empty; accepted: "),
    ]


def test_the_console_script_refuses_in_one_line_before_the_run_starts(tmp_path: Path) -> None:
    """``quantum-trader run --synthetic`` in a subprocess: exit 2, one line, nothing run."""
    (tmp_path / "a-file").write_text("")
    failures = []
    for variable, value, words in _subprocess_cases(tmp_path):
        env = {"QT_HOME": str(tmp_path / "home"), "QT_OFFLINE": "true", variable: value}
        done = _cli(env, "run", "--synthetic")
        out = done.stdout + done.stderr
        lines = out.strip().splitlines()
        ok = (
            done.returncode == 2
            and "Traceback" not in out
            and len(lines) == 1
            and lines[0].startswith("error: ")
            and words in lines[0]
        )
        if not ok:
            failures.append(f"{variable}={value!r}: exit {done.returncode}: {out[:500]}")
    assert not failures, "\n".join(failures)
    assert not (tmp_path / "home" / "runs").exists()  # no run began
