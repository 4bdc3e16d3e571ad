"""``quantum-trader serve`` refuses to start without a password and a secret, or with weak
ones: one line, exit code 2, no traceback, no value repeated."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from quantum_trader.app.cli.main import app
from quantum_trader.app.cli.serve import api_config
from quantum_trader.config.settings import load_settings
from quantum_trader.domain.errors import ConfigError

GOOD_SECRET = "a-long-enough-secret-4711-0123456789"


@pytest.mark.parametrize(
    ("password", "secret", "named"),
    [
        ("", GOOD_SECRET, "QT_API_PASSWORD"),
        ("a-fine-password-42", "", "QT_API_SECRET"),
        ("", "", "QT_API_PASSWORD and QT_API_SECRET"),
    ],
)
def test_serve_refuses_an_unset_password_or_secret(
    clean_env: pytest.MonkeyPatch, password: str, secret: str, named: str
) -> None:
    clean_env.setenv("QT_API_PASSWORD", password)
    clean_env.setenv("QT_API_SECRET", secret)
    with pytest.raises(ConfigError, match=named):
        api_config(load_settings(), None, None)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("QT_API_PASSWORD", "admin"),
        ("QT_API_PASSWORD", "changeme"),
        ("QT_API_SECRET", "secret"),
        ("QT_API_SECRET", "short-4711"),
        ("QT_API_SECRET", "31-bytes-are-one-short-of-HS256"),
    ],
)
def test_serve_refuses_a_weak_password_or_secret(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv("QT_API_PASSWORD", "a-fine-password-42")
    clean_env.setenv("QT_API_SECRET", GOOD_SECRET)
    clean_env.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable) as err:
        load_settings()
    assert value not in str(err.value).replace(variable, "")


def test_the_console_script_refuses_in_one_line(
    clean_env: pytest.MonkeyPatch, tmp_path: object
) -> None:
    clean_env.setenv("QT_HOME", str(tmp_path))
    clean_env.setenv("QT_API_PASSWORD", "changeme")
    done = subprocess.run(
        [sys.executable, "-c", "from quantum_trader.app.cli.main import main; main()", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    output = (done.stdout + done.stderr).strip()
    assert len(output.splitlines()) == 1 and "Traceback" not in output
    assert "QT_API_PASSWORD" in output and "changeme" not in output


def test_serve_has_host_and_port_options() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output
