"""The console script's entry point (``pyproject.toml``, ``[project.scripts]``) imports nothing
heavy: a process spawned by a run started with ``quantum-trader`` runs the script's top level
again (multiprocessing's spawn), so what the entry module imports, every training, report and
fold process of the run imports too (``app/cli/entry.py``)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

#: what the CLI imports and a spawned worker must not pay for before its task starts
HEAVY = ("quantum_trader.app.cli.main", "fastapi", "scipy", "pandas", "alembic")


def _entry_point() -> tuple[str, str]:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["quantum-trader"].partition(":")
    return module, function


def test_a_process_spawned_under_the_console_script_imports_no_cli(tmp_path: Path) -> None:
    module, function = _entry_point()
    script = tmp_path / "quantum-trader"
    script.write_text(  # pip's console-script template, with a spawn where it calls main()
        f"import sys\nfrom {module} import {function}\n"
        "if __name__ == '__main__':\n"
        "    import multiprocessing\n"
        "    from concurrent.futures import ProcessPoolExecutor\n"
        "    spawn = multiprocessing.get_context('spawn')\n"
        "    with ProcessPoolExecutor(1, mp_context=spawn) as pool:\n"
        "        loaded = pool.submit(eval, 'sorted(__import__(\"sys\").modules)').result()\n"
        f"    print(' '.join(m for m in loaded if m.split('.')[0] in {HEAVY!r}"
        f" or m in {HEAVY!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [], f"a spawned process imported {done.stdout[:300]}"


def test_the_entry_point_runs_the_cli() -> None:
    module, function = _entry_point()
    code = f"import sys; sys.argv = ['quantum-trader', '--help']; from {module} import {function}"
    done = subprocess.run(
        [sys.executable, "-c", f"{code}; {function}()"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage: quantum-trader" in done.stdout and "status" in done.stdout
