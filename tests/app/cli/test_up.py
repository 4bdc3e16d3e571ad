"""``quantum-trader service ROLE`` and ``quantum-trader up`` as an operator runs them (real
processes): a role not split yet is refused in one line, and so is market-data without its
Redis (under ``service`` or ``up``), and the engine given a Redis that does not answer; ``up``
with a Redis starts market-data and the engine on its stream; ``up`` with an API that cannot
start says so and gives up on it; ``up`` serving the API: the API answers, its process is UP in
the database, and a stop signal to ``up`` leaves it STOPPED."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from quantum_trader.adapters.sql.service_health import SqlServiceHealth
from quantum_trader.app.cli.serve import API_NICENESS
from quantum_trader.app.cli.serve import CLI_COMMAND as CLI
from quantum_trader.app.cli.services import role_commands
from quantum_trader.app.storage import open_settings_database
from quantum_trader.clock.clock import WallClock
from quantum_trader.config.settings import load_storage_settings
from quantum_trader.status.services import ProcessState


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    clean_env.setenv("QT_HOME", str(tmp_path / "home"))
    return dict(os.environ)


def _cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


def test_a_role_not_split_yet_is_refused_in_one_line(env: dict[str, str]) -> None:
    done = _cli(env, "service", "decision")
    assert done.returncode == 2
    assert "service role 'decision' is not built as a process of its own yet" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert "unknown service role 'nonsense'" in _cli(env, "up", "--role", "nonsense").stdout


def test_market_data_runs_by_service_only_and_says_what_it_needs(env: dict[str, str]) -> None:
    """``service market-data`` runs (tests/services/test_candle_stream.py); what it refuses,
    each in one line with exit 2, before touching any data."""
    refusals = {
        ("up", "--role", "market-data"): (
            "`up` starts market-data only with --redis-url (or QT_REDIS_URL)"
        ),
        ("service", "market-data"): "service market-data needs --redis-url (or QT_REDIS_URL)",
        ("service", "market-data", "--redis-url", "redis://127.0.0.1:1/0"): (
            "--redis-url redis://127.0.0.1:1/0: Redis does not answer"
        ),
        ("service", "market-data", "--redis-url", "http://x"): "--redis-url http://x: Redis",
        ("service", "api", "--redis-url", "redis://x"): (
            "--redis-url is market-data's and engine's: the api role does not read it"
        ),
        ("service", "engine", "--redis-url", "redis://127.0.0.1:1/0"): (
            "--redis-url redis://127.0.0.1:1/0: Redis does not answer"
        ),
    }
    for args, message in refusals.items():
        done = _cli(env, *args)
        assert done.returncode == 2 and message in done.stdout, (args, done.stdout)
        assert "Traceback" not in done.stdout + done.stderr


def test_up_with_a_redis_starts_market_data_and_the_engine_on_its_stream() -> None:
    """What ``up`` starts (the run itself: tests/services/test_engine_on_stream.py)."""
    stream = ("--redis-url", "redis://h:6379/0", "--stream-prefix", "p")
    roles = role_commands(["market-data", "engine", "api"], "redis://h:6379/0", "p")
    assert [(r.name, r.argv[len(CLI) :]) for r in roles] == [
        ("market-data", ("service", "market-data", *stream, "--follow")),
        ("engine", ("service", "engine", *stream)),
        ("api", ("service", "api")),
    ]
    assert [r.argv[len(CLI) :] for r in role_commands(["engine", "api"])] == [
        ("service", "engine"),
        ("service", "api"),
    ]  # without Redis: as before, the engine on its store


def test_up_gives_up_on_an_api_that_cannot_start(env: dict[str, str]) -> None:
    env = {k: v for k, v in env.items() if k not in ("QT_API_PASSWORD", "QT_API_SECRET")}
    done = _cli(env, "up", "--role", "api")
    assert done.returncode == 1, done.stdout
    assert "api | error: serve refuses to start: QT_API_PASSWORD and QT_API_SECRET unset" in (
        done.stdout
    )
    assert "up | api failed with a configuration error (exit 2): not restarted" in done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_up_serves_the_api_and_a_stop_leaves_its_process_stopped(env: dict[str, str]) -> None:
    port = _free_port()
    env = {**env, "QT_API_PASSWORD": "a-fine-password-42", "QT_API_SECRET": "s" * 32,
           "QT_API_PORT": str(port)}  # fmt: skip
    up = subprocess.Popen([*CLI, "up", "--role", "api"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert up.poll() is None, up.stdout.read() if up.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/ping", timeout=1) as r:
                    assert json.loads(r.read()) == {"ping": "pong"}
                    break
            except OSError:
                assert time.monotonic() < deadline, "the API never answered"
                time.sleep(0.2)
        db = open_settings_database(load_storage_settings())
        (api,) = SqlServiceHealth(db).load_all()
        assert api.role == "api" and api.state(WallClock().now()) is ProcessState.UP
        assert api.pid != up.pid  # the role's own process, not the supervisor
        fields = Path(f"/proc/{api.pid}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(fields[16]) == API_NICENESS  # below the engine's priority
    finally:
        up.send_signal(signal.SIGTERM)
        output, _ = up.communicate(timeout=60)
    assert up.returncode == 130, output
    assert "up | api started (pid" in output and "up | stopping api: a stop signal" in output
    (stopped,) = SqlServiceHealth(db).load_all()
    assert stopped.state(WallClock().now()) is ProcessState.STOPPED


def test_qt_redis_url_is_the_redis_of_up_and_the_roles_when_no_option_gives_one(
    env: dict[str, str],
) -> None:
    """``QT_REDIS_URL`` was refused at start ("no process uses the Redis bus yet") after the
    roles had come to use Redis through ``--redis-url``; now it is that option's default. A
    Redis that does not answer shows which URL the roles took; the API role ignores it."""
    env = {**env, "QT_REDIS_URL": "redis://127.0.0.1:1/0"}
    env = {k: v for k, v in env.items() if k not in ("QT_API_PASSWORD", "QT_API_SECRET")}
    for args in (("service", "market-data"), ("service", "engine"), ("dead-letters", "list")):
        done = _cli(env, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "redis://127.0.0.1:1/0: Redis does not answer" in done.stdout, (args, done.stdout)
    done = _cli(env, "service", "api")  # refused for its own reason, not for the setting
    assert done.returncode == 2 and "serve refuses to start: QT_API_PASSWORD" in done.stdout
    # up: market-data joins the roles, and both stream roles take the setting's Redis
    done = _cli(env, "up", "--max-restarts", "0", timeout=120)
    for role in ("market-data", "engine"):
        assert f"{role} | error: --redis-url redis://127.0.0.1:1/0: Redis does not answer" in (
            done.stdout
        ), done.stdout
    # the roles under up read the setting themselves: no URL (and password) in their argv
    roles = role_commands(["market-data", "engine"], "redis://:pw@h/0", "p", url_in_argv=False)
    assert [r.argv[len(CLI) :] for r in roles] == [
        ("service", "market-data", "--stream-prefix", "p", "--follow"),
        ("service", "engine", "--stream-prefix", "p"),
    ]
    # a password in the URL is not echoed when Redis does not answer
    done = _cli({**env, "QT_REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"}, "service", "engine")
    assert "--redis-url redis://:**********@127.0.0.1:1/0: Redis does not answer" in done.stdout
    assert "hunter2" not in done.stdout + done.stderr
    # an explicit option wins over the setting
    done = _cli(env, "service", "market-data", "--redis-url", "redis://127.0.0.1:2/0")
    assert "redis://127.0.0.1:2/0: Redis does not answer" in done.stdout, done.stdout
    # and a malformed setting is refused by name, its value not echoed (it may hold a password)
    bad = {**env, "QT_REDIS_URL": "localhost:6379"}
    done = _cli(bad, "service", "market-data")
    assert done.returncode == 2 and "QT_REDIS_URL: not a Redis URL; accepted: redis://" in (
        done.stdout
    ), done.stdout
    assert "localhost:6379" not in done.stdout
