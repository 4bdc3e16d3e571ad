"""The CLI's sub-commands are imported when called (``app/cli/lazy.py``).

An operator's ``risk kill-switch on`` or ``status`` no longer waits for the main job's imports;
the table of sub-commands is complete, so no command of the files under ``app/cli/`` is lost
from the CLI.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from quantum_trader.app.cli import lazy
from quantum_trader.app.cli.main import app

CLI = Path(lazy.__file__).parent

#: what an operator's quick command must not import (each is seconds of the full CLI's start)
HEAVY = (
    "quantum_trader.app.main_job",
    "quantum_trader.app.run_report",
    "quantum_trader.risk.engine",
    "scipy",
    "pandas",
    "lightgbm",
    "onnxruntime",
    "fastapi",
)

PROBE = """
import json, sys
from quantum_trader.app.cli.entry import main
sys.argv = ["quantum-trader", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_after(args: list[str], home: Path) -> set[str]:
    env = {**os.environ, "QT_HOME": str(home)}
    env.pop("QT_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=120
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [["risk", "kill-switch", "status"], ["status", "--json"], ["models", "list"]],
    ids=" ".join,
)
def test_an_operators_command_imports_only_what_it_uses(args: list[str], tmp_path: Path) -> None:
    modules = _modules_after(args, tmp_path)
    assert "quantum_trader.app.cli.main" in modules  # it ran
    imported = [h for h in HEAVY if h in modules]
    assert imported == [], f"{' '.join(args)} imported {imported}"


def test_the_command_that_needs_them_still_imports_them(tmp_path: Path) -> None:
    modules = _modules_after(["backtest", "--help"], tmp_path)
    assert {"quantum_trader.app.cli.backtest", "quantum_trader.app.main_job"} <= modules


def _files_with_a_typer_app() -> set[str]:
    """The modules under app/cli/ that define a module-level ``app = typer.Typer(...)``."""
    found = set()
    for path in CLI.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "app" for t in node.targets
            ):
                found.add(f"quantum_trader.app.cli.{path.stem}")
    return found


def test_every_command_file_is_listed() -> None:
    listed = {entry.module for entry in lazy.SUBCOMMANDS.values()}
    assert _files_with_a_typer_app() - {"quantum_trader.app.cli.main"} == listed


@pytest.mark.parametrize("name", list(lazy.SUBCOMMANDS))
def test_each_listed_command_loads_under_its_name(name: str) -> None:
    command = lazy.load(name)
    assert command.name == name
    group = typer.main.get_command(app)
    assert group.get_command(typer.Context(group), name) is command  # type: ignore[attr-defined]


def test_top_level_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in ("status", "run", "service", "config", *lazy.SUBCOMMANDS):
        assert f" {name} " in result.output, name


def test_a_module_that_defines_an_unlisted_command_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = typer.Typer()
    extra.command("backtest")(lambda: None)
    extra.command("backtest-more")(lambda: None)
    fake = type(sys)("fake_cli")
    fake.app = extra  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_cli", fake)
    monkeypatch.setitem(lazy.SUBCOMMANDS, "backtest", lazy.Subcommand("fake_cli", "-", group=False))
    lazy.load.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="defines \\['backtest', 'backtest-more'\\]"):
            lazy.load("backtest")
    finally:
        lazy.load.cache_clear()


def test_each_listed_line_is_the_first_paragraph_of_the_commands_own_help() -> None:
    """The top-level ``--help`` lists ``SUBCOMMANDS[name].help`` without importing the module;
    it must say what the command's own help says (line breaks kept, as the listing keeps them)."""
    for name, entry in lazy.SUBCOMMANDS.items():
        command = lazy.load(name)
        own = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0]
        assert entry.help == own, f"{name}: the table says {entry.help!r}, the command {own!r}"


def test_the_top_level_help_lists_every_command_without_importing_them(tmp_path: Path) -> None:
    """It imported all of them to print one line each (2.6–3.6 s here; 0.4–0.5 s without)."""
    modules = _modules_after(["--help"], tmp_path)
    assert "quantum_trader.app.cli.main" in modules  # it ran
    imported = sorted(e.module for e in lazy.SUBCOMMANDS.values() if e.module in modules)
    assert imported == [], imported
    assert [h for h in HEAVY if h in modules] == []
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    listed = [line.split()[1] for line in result.output.splitlines() if line.startswith("│ ")]
    assert set(lazy.SUBCOMMANDS) <= set(listed), listed
    assert "Paper-trade through the main job's decision path" in result.output
