"""``quantum-trader serve`` refuses to start without a password and a secret, or with weak
ones: one line, exit code 2, no traceback, no value repeated."""

from __future__ import annotations

import socket
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


@pytest.mark.parametrize("where", ["port taken", "not this machine", "no such host"])
def test_serve_refuses_in_one_line_where_it_cannot_listen(
    clean_env: pytest.MonkeyPatch, tmp_path: object, where: str
) -> None:
    """uvicorn said so only after the app had started, as a log line, and exited 3 (which
    ``up`` restarts three times)."""
    clean_env.setenv("QT_HOME", str(tmp_path))
    clean_env.setenv("QT_API_PASSWORD", "a-fine-password-42")
    clean_env.setenv("QT_API_SECRET", GOOD_SECRET)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        host, reason = {
            "port taken": ("127.0.0.1", "ddress already in use"),
            "not this machine": ("192.0.2.1", "annot assign requested address"),
            "no such host": ("no-such-host.invalid", "not known"),
        }[where]
        command = "from quantum_trader.app.cli.main import main; main()"
        done = subprocess.run(
            [sys.executable, "-c", command, "serve", "--host", host, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert len(output.splitlines()) == 1 and "Traceback" not in output, output
    assert f"serve cannot listen on {host!r} port {port}: " in output and reason in output
