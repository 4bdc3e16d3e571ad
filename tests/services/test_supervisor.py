"""The supervisor of ``quantum-trader up`` (``services/supervisor.py``): output prefixed by
role, a crashed role restarted with a growing pause, a configuration error never restarted, a
role that keeps crashing stops everything, a stop signal stops every role."""

from __future__ import annotations

import io
import sys
import threading
import time
from pathlib import Path

from quantum_trader.services.supervisor import Role, Supervisor


def _py(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def _supervisor(*roles: Role, **kw: float) -> tuple[Supervisor, io.StringIO]:
    out = io.StringIO()
    options = {"backoff_s": 0.05, "poll_s": 0.02, "stop_timeout_s": 2.0, **kw}
    return Supervisor(list(roles), out, **options), out  # type: ignore[arg-type]


def test_a_crashed_role_is_restarted_and_the_others_go_on(tmp_path: Path) -> None:
    marker = tmp_path / "crashed-once"
    flaky = f"""
import pathlib, sys
m = pathlib.Path({str(marker)!r})
if not m.exists():
    m.write_text("x"); print("crashing", flush=True); sys.exit(3)
print("second life", flush=True)
"""
    supervisor, out = _supervisor(
        Role("calm", _py("print('hello'); print('oops', file=__import__('sys').stderr)")),
        Role("flaky", _py(flaky)),
    )
    assert supervisor.run() == 0
    lines = out.getvalue().splitlines()
    assert "calm | hello" in lines and "calm | oops" in lines  # stdout and stderr
    assert "flaky | crashing" in lines and "flaky | second life" in lines
    assert "up | flaky exited 3: restart 1/3 in 0.05 s" in lines
    assert "up | flaky finished (exit 0)" in lines and "up | calm finished (exit 0)" in lines
    assert sum(line.startswith("up | flaky started") for line in lines) == 2


def test_a_configuration_error_is_not_restarted() -> None:
    supervisor, out = _supervisor(
        Role("api", _py("print('error: QT_API_PASSWORD unset'); raise SystemExit(2)")),
        Role("engine", _py("print('replayed')")),
    )
    assert supervisor.run() == 1  # one role did not end well
    text = out.getvalue()
    assert "api failed with a configuration error (exit 2): not restarted" in text
    assert text.count("up | api started") == 1 and "engine finished (exit 0)" in text


def test_a_role_that_keeps_crashing_stops_every_role() -> None:
    supervisor, out = _supervisor(
        Role("sleeper", _py("import time; print('up', flush=True); time.sleep(60)")),
        Role("broken", _py("raise SystemExit(5)")),
        max_restarts=2,
    )
    started = time.monotonic()
    assert supervisor.run() == 1
    assert time.monotonic() - started < 20  # the sleeper was stopped, not waited for
    text = out.getvalue()
    assert "broken exited 5: restart 1/2 in 0.05 s" in text
    assert "broken exited 5: restart 2/2 in 0.1 s" in text
    assert "broken exited 5 after 2 restarts: stopping all" in text
    assert "stopping sleeper: broken failed 3 times" in text


def test_a_stop_stops_every_role_and_kills_one_that_ignores_it() -> None:
    deaf = _py(
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "print('deaf', flush=True); time.sleep(60)"
    )
    polite = _py("import time\ntry:\n    print('polite', flush=True); time.sleep(60)\n"
                 "except KeyboardInterrupt:\n    print('bye', flush=True)")  # fmt: skip
    supervisor, out = _supervisor(Role("deaf", deaf), Role("polite", polite), stop_timeout_s=1.0)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(supervisor.run()))
    runner.start()
    deadline = time.monotonic() + 20
    while "deaf | deaf" not in out.getvalue() or "polite | polite" not in out.getvalue():
        assert time.monotonic() < deadline, out.getvalue()
        time.sleep(0.02)
    supervisor.stop()
    runner.join(20)
    assert result == [130]
    text = out.getvalue()
    assert "polite | bye" in text  # stopped as Ctrl-C stops it
    assert "deaf killed: no exit 1 s after SIGINT" in text
