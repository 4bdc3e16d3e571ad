"""``quantum-trader dead-letters`` as an operator uses it: list the topics with letters, show
one topic's, replay them once the cause is fixed (exit 1 when some stayed), drop and trim; a
command without what it needs is refused in one line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import redis
from typer.testing import CliRunner

from quantum_trader.adapters.redis_streams import RedisStreamsBus
from quantum_trader.app.cli.main import app
from quantum_trader.app.cli.serve import CLI_COMMAND as CLI
from quantum_trader.bus import Event
from quantum_trader.clock import SimulatedClock
from quantum_trader.domain.errors import ConfigError
from tests.adapters.conftest import client, prefix

__all__ = ["client", "prefix"]

runner = CliRunner()


def _dead_letters(client: redis.Redis, prefix: str, fail: set[int]) -> list[int]:
    """Group ``risk`` gives up on the events in ``fail`` (K = 1); returns what it handled."""
    bus = RedisStreamsBus(
        client, SimulatedClock(0), group="risk", consumer="r1", prefix=prefix, max_deliveries=1
    )
    handled: list[int] = []

    def handler(event: Event) -> None:
        if event.payload["i"] in fail:
            raise RuntimeError(f"no price for {event.payload['i']}")
        handled.append(int(event.payload["i"]))

    bus.subscribe("execution.order.filled", handler)
    for i in range(4):
        bus.publish("execution.order.filled", {"i": i}, source="test")
    bus.poll()
    fail.clear()
    return handled


def _run(redis_url: str, prefix: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["dead-letters", *args, "--redis-url", redis_url, "--prefix", prefix],
        env={"COLUMNS": "200"},
    )
    return result.exit_code, result.output


def test_list_show_replay_drop_and_trim(client: redis.Redis, prefix: str, redis_url: str) -> None:
    assert _run(redis_url, prefix, "list") == (0, f"no dead letters under {prefix}:dead:*\n")
    handled = _dead_letters(client, prefix, {1, 3})
    assert handled == [0, 2]

    code, out = _run(redis_url, prefix, "list")
    assert code == 0 and re.search(r"│ execution\.order\.filled +│ 2 +│", out), out
    code, out = _run(redis_url, prefix, "show", "execution.order.filled", "--json")
    letters = json.loads(out)
    assert code == 0 and [d["envelope"]["payload"] for d in letters] == [{"i": 1}, {"i": 3}]
    assert {d["error"] for d in letters} == {"RuntimeError: no price for 1",
                                             "RuntimeError: no price for 3"}  # fmt: skip
    assert {(d["group"], d["deliveries"]) for d in letters} == {("risk", 1)}

    code, out = _run(redis_url, prefix, "replay", "execution.order.filled", letters[0]["id"])
    assert code == 0 and "1 replayed, 0 kept, 0 gone" in out
    code, out = _run(redis_url, prefix, "replay", "execution.order.filled", letters[0]["id"])
    assert code == 1 and "0 replayed, 0 kept, 1 gone" in out

    code, out = _run(redis_url, prefix, "drop", "execution.order.filled", letters[1]["id"], "9-9")
    assert code == 1 and "dropped 1 of 2" in out
    client.xadd(f"{prefix}:dead:execution.order.filled", {"event": b"{}", "group": "risk"})
    code, out = _run(redis_url, prefix, "trim", "execution.order.filled", "--older-than-days", "1")
    assert code == 0 and "trimmed 0 letters" in out
    time.sleep(0.002)
    code, out = _run(redis_url, prefix, "trim", "execution.order.filled", "--older-than-days", "0")
    assert code == 0 and "trimmed 1 letters" in out

    code, out = _run(redis_url, prefix, "show", "execution.order.filled")
    assert code == 0 and "no dead letters for execution.order.filled" in out


def test_a_replay_without_letters_or_a_redis_that_does_not_answer_is_refused(
    redis_url: str,
) -> None:
    """Refused before touching Redis: neither letters nor ``--all``, or both; ids that are not
    stream ids (Redis would answer with an error)."""
    message = "replay: name the letters (ids from `show`) or give --all, not both"
    for args in (("replay", "t"), ("replay", "t", "1-0", "--all")):
        result = runner.invoke(app, ["dead-letters", *args, "--redis-url", redis_url])
        assert isinstance(result.exception, ConfigError) and str(result.exception) == message
    for command in ("replay", "drop"):
        result = runner.invoke(
            app, ["dead-letters", command, "t", "1-0", "abc", "7", "--redis-url", redis_url]
        )
        assert isinstance(result.exception, ConfigError)
        assert str(result.exception) == "not a letter id (MS-SEQ, as `show` prints them): abc, 7"

    # the entry point prints the error in one line, exit 2 (a real process, as an operator)
    done = subprocess.run(
        [*CLI, "dead-letters", "list", "--redis-url", "redis://127.0.0.1:1/0"],
        env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout.startswith("error: --redis-url redis://127.0.0.1:1/0: Redis does not answer")
    assert done.stdout.count("\n") == 1 and "Traceback" not in done.stdout + done.stderr
