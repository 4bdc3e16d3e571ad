"""The main job reading its replay's candles from the market-data role's stream, as real
processes: ``quantum-trader run`` on its own store, and ``quantum-trader up --redis-url … --role
market-data --role engine`` on a copy of that store (market-data publishes the replay's candles
on real Redis, the engine, ``service engine --redis-url``, replays them), end with the same
orders, fills, trades and equity curve (run ids aside), final equity to 1e-9.

Then, on the second home (its models trained, so no training): the engine fed a stream whose
candles are the same but one candle's prices (a market-data role with other data) ends with
another ledger, so the equality above is the stream's doing and the comparison can fail; and
a stream with one candle lost is refused before any order on it, naming the loss.

And the engine role killed with SIGKILL under ``up`` mid-replay (a random candle of the
stream, read from Redis's ``MONITOR``): ``up`` restarts it, the new process runs the replay
again from the stream's start as a new run (the main job cannot resume a replay mid-way; the
killed run is CRASHED), and that run's ledger equals the single process's.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from quantum_trader.adapters.candle_stream import stream_name
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.app.cli.serve import CLI_COMMAND as CLI
from quantum_trader.bus.envelope import Event
from tests.reliability import kill_replay as kr

pytestmark = [pytest.mark.data, pytest.mark.slow]

SYMBOLS = "BTCUSDT,ETHUSDT"
REPLAY_DAYS = 10
CANDLES = 2 * REPLAY_DAYS * 24
#: a small main job: two symbols, 10 days, xgb + lgbm; the learning modules that train in
#: workers during the replay are off (they are the same code either way; this is about candles)
SMALL = {
    "CONTINUOUS_LEARNING_ENABLED": "false",
    "MODEL_SUPERVISOR_ENABLED": "false",
    "QT_RL_AGENTS": "false",
    "AI_ENGINE_MIN_CONSENSUS": "1",
    "QT_ENTRY_COST_GATE": "false",  # more entries: more to compare
}


def _env(home: Path, data_dir: Path) -> dict[str, str]:
    return kr.replay_env(home, data_dir, symbols=SYMBOLS, replay_days=REPLAY_DAYS) | SMALL


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env | {"COLUMNS": "400"}, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip


def _copy_stream(client: redis.Redis, source: str, target: str, edit: Any) -> None:
    """``source``'s entries appended to ``target`` with their ids, each event through
    ``edit(index, event)`` (None: the entry left out)."""
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(source))
    for i, (entry_id, fields) in enumerate(entries):
        event = edit(i, Event.from_json(fields[b"event"].decode()))
        if event is not None:
            client.xadd(target, {"event": event.to_json()}, id=entry_id)


def _run_id(env: dict[str, str]) -> str:
    return kr.run_ids(env)[-1]


def _services_home(tmp_path: Path, data_dir: Path, single: Path) -> dict[str, str]:
    """A second home with a copy of ``single``'s store, its database migrated."""
    services = _env(tmp_path / "services", data_dir)
    shutil.copytree(single / "store", tmp_path / "services" / "store")
    # migrated here first, though roles migrating a fresh file at once are serialised
    # (adapters/sql/migration_lock.py, tests/adapters/test_concurrent_migration.py)
    open_database(f"sqlite:///{tmp_path / 'services' / 'quantum_trader.sqlite'}").dispose()
    return services


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Path, Any]:
    """``run`` on its own store, once for the module: its home and its ledger."""
    home = tmp_path_factory.mktemp("single")
    env = _env(home, data_dir)
    done = _cli(env, "run")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    expected = kr.ledger(env, _run_id(env))
    assert len(expected["trades"]) >= 3, "the replay traded too little to compare"
    return home, expected


def test_the_main_job_on_the_stream_equals_the_main_job_on_its_store(
    single: tuple[Path, Any],
    tmp_path: Path,
    data_dir: Path,
    redis_url: str,
    prefix: str,
    client: redis.Redis,
) -> None:
    # the same data, settings and code; only the candles' way differs
    services = _services_home(tmp_path, data_dir, single[0])
    expected = single[1]
    done = _cli(services, "up", "--redis-url", redis_url, "--stream-prefix", prefix,
                "--role", "market-data", "--role", "engine")  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out[-5000:] + done.stderr[-3000:]
    assert f"market-data | market-data: {CANDLES} 1h candles of BTCUSDT, ETHUSDT" in out
    assert "up | market-data finished (exit 0)" in out and "up | engine finished (exit 0)" in out
    assert client.xlen(stream_name(prefix)) == CANDLES + 1  # the candles and the end
    through = kr.ledger(services, _run_id(services))
    assert kr.ledger_differences(through, expected) == []
    assert through["equity"][-1][1] == pytest.approx(expected["equity"][-1][1], rel=0, abs=1e-9)

    # other prices on the stream (one candle of BTCUSDT 3% higher): another ledger
    tampered = f"{prefix}-tampered"
    moved = {CANDLES // 3, CANDLES // 3 + 2}  # BTCUSDT's (even places: it ranks first)

    def higher(i: int, event: Event) -> Event:
        if i not in moved:
            return event
        p = dict(event.payload)
        p |= {k: float(p[k]) * 1.03 for k in ("open", "high", "low", "close")}
        return Event(event.id, event.type, event.time, event.source, event.sequence, p)

    _copy_stream(client, stream_name(prefix), stream_name(tampered), higher)
    done = _cli(services, "service", "engine", "--redis-url", redis_url, "--stream-prefix",
                tampered)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert kr.ledger_differences(kr.ledger(services, _run_id(services)), expected) != []

    # one candle lost on the stream: refused at the gap, naming it
    lost = f"{prefix}-lost"
    _copy_stream(client, stream_name(prefix), stream_name(lost),
                 lambda i, e: None if i == CANDLES // 2 else e)  # fmt: skip
    done = _cli(services, "service", "engine", "--redis-url", redis_url, "--stream-prefix", lost)
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"sequence {CANDLES // 2 + 1} where {CANDLES // 2} was next: 1 candle(s) lost" in (
        done.stdout
    )


def _engine_pid(up: int) -> int | None:
    """The ``service engine`` child of the ``up`` process ``up``."""
    for pid in kr._descendants(up):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"service" in cmdline and b"engine" in cmdline:
            return pid
    return None


def test_the_engine_role_killed_mid_replay_is_restarted_and_its_run_ends_equal(
    single: tuple[Path, Any],
    tmp_path: Path,
    data_dir: Path,
    redis_url: str,
    prefix: str,
    client: redis.Redis,
) -> None:
    services = _services_home(tmp_path, data_dir, single[0])
    expected = single[1]
    stream = stream_name(prefix)
    kill_at = random.Random().randrange(CANDLES // 8, CANDLES * 7 // 8)  # an entry's place
    cursors: list[str] = []  # the engine's XREAD cursors on the stream, as Redis logged them
    watching, done = threading.Event(), threading.Event()
    monitored = redis.Redis.from_url(redis_url)  # its own connection, closed by the thread

    def watch() -> None:
        with monitored.monitor() as monitor:
            watching.set()
            while not done.is_set():
                command = str(monitor.next_command()["command"])
                found = re.search(rf"XREAD .*STREAMS {re.escape(stream)} (\d+-\d+)", command)
                if found:
                    cursors.append(found.group(1))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    watching.wait(10)
    up_log, md_log = (tmp_path / "up.log").open("w"), (tmp_path / "md.log").open("w")
    # the engine under `up`; market-data apart, paced (one candle per 20 ms) once the engine
    # waits on the stream, so that the engine's reads follow the candles, not a backlog
    up = subprocess.Popen(
        [*CLI, "up", "--redis-url", redis_url, "--stream-prefix", prefix, "--role", "engine"],
        env=services | {"COLUMNS": "400"}, stdout=up_log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    market_data = None
    try:
        _until(lambda: bool(cursors) or up.poll() is not None, 600)
        market_data = subprocess.Popen(
            [*CLI, "service", "market-data", "--redis-url", redis_url, "--stream-prefix", prefix,
             "--batch", "1", "--pause-s", "0.02", "--follow"],
            env=services, stdout=md_log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        killed = None

        def past_the_kill_point() -> bool:
            entries = cast(list[tuple[bytes, Any]], client.xrange(stream, count=kill_at + 1))
            return len(entries) > kill_at and key(cursors[-1]) >= key(entries[kill_at][0])

        _until(lambda: past_the_kill_point() or up.poll() is not None, 600)
        killed = _engine_pid(up.pid)
        assert killed is not None, "no engine process when the stream passed the kill point"
        os.kill(killed, signal.SIGKILL)
        up.wait(timeout=600)
        market_data.wait(timeout=60)
    finally:
        for process in (up, market_data):
            if process is not None and process.poll() is None:
                process.kill()
        up_log.close()
        md_log.close()
        done.set()
        client.ping()  # a last command for the monitor to see, so that it ends
        watcher.join(10)
    out = (tmp_path / "up.log").read_text()
    assert up.returncode == 0, out[-5000:]
    assert market_data.returncode == 0, (tmp_path / "md.log").read_text()[-3000:]
    assert "up | engine exited -9: restart 1/3" in out  # restarted by up, once
    assert "up | engine finished (exit 0)" in out
    runs = kr.run_statuses(services)
    assert sorted(runs.values()) == ["CRASHED", "FINISHED"], runs  # the killed run, then one
    final = kr.ledger(services, _run_id(services))
    assert kr.ledger_differences(final, expected) == []
    assert final["equity"][-1][1] == pytest.approx(expected["equity"][-1][1], rel=0, abs=1e-9)


def key(entry_id: str | bytes) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq)


def _until(condition: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s")
        time.sleep(0.01)
