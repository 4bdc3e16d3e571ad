"""The structure docs/architecture.md promises, checked: no import cycle between files, no file
over 600 lines, no function over 60 lines in the engine and the decision path, and app/ holding
wiring, CLI and reports only. The layer map itself is the import-linter contract in
``.importlinter`` (``make lint``)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "quantum_trader"
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 60
SHORT_FUNCTION_PACKAGES = ("engine", "decision")


def _files() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def test_no_import_cycle_between_files() -> None:
    graph = grimp.build_graph("quantum_trader", exclude_type_checking_imports=False)
    cycles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain is not None:
                cycles.add(" -> ".join((module, *chain)))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles))


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_file_over_the_line_limit(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_FILE_LINES, f"{path.relative_to(SRC)} has {lines} lines"


def test_no_long_function_in_the_engine_or_the_decision_path() -> None:
    long = []
    for package in SHORT_FUNCTION_PACKAGES:
        for path in sorted((SRC / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} {length}")
    assert not long, "functions over 60 lines:\n" + "\n".join(long)


def test_app_defines_no_module_logic() -> None:
    """app/ wires, runs the CLI and writes reports: none of its classes is a trader, a venue or
    a decision step (those live in their packages, where other entry points can reach them)."""
    offenders = []
    for path in sorted((SRC / "app").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name in ("on_bar", "submit", "decide"):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
    assert not offenders, "module logic in app/:\n" + "\n".join(offenders)
