"""Item 6 of issue 22: nothing in the package loads data with pickle, joblib or an unguarded
``torch.load`` (each can run code hidden in a file). Artifacts are booster files, ONNX,
safetensors and JSON, each verified against its content hash (``models/base.py``).

This reads every source file of ``src/quantum_trader`` and fails on a call or an import that
can deserialise code. What is allowed, and why, is listed in ``ALLOWED``: each entry names
the file and the reason; a new use needs one too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "quantum_trader"

#: modules whose import alone is the problem (their load functions run code)
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
#: calls that deserialise code from a file or bytes, by their last two dotted names
UNSAFE_CALLS = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("joblib", "load"),
    ("numpy", "load"),  # only with allow_pickle=True; see _numpy_load
    ("PPO", "load"),  # stable-baselines3's zip holds cloudpickled objects
    ("MaskablePPO", "load"),
    ("marshal", "load"),
    ("marshal", "loads"),
}
#: (file relative to the package, name): why it is safe
ALLOWED: dict[tuple[str, str], str] = {
    ("domain/canonical.py", "marshal"): "marshal.dumps only, the canonical bytes a digest is "
    "taken of; nothing is ever loaded with it (a marshal.load(s) call would still fail here)",
}


def _dotted(node: ast.expr) -> tuple[str, ...]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return tuple(reversed(parts))


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def problems(source: str, where: str) -> list[str]:
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            for name in names:
                if name.split(".")[0] in UNSAFE_MODULES and (where, name) not in ALLOWED:
                    found.append(f"{where}:{node.lineno}: imports {name}")
        if not isinstance(node, ast.Call):
            continue
        dotted = _dotted(node.func)
        tail = dotted[-2:]
        if tail == ("torch", "load"):
            guard = _keyword(node, "weights_only")
            if not (isinstance(guard, ast.Constant) and guard.value is True):
                found.append(f"{where}:{node.lineno}: torch.load without weights_only=True")
        elif tail in {("numpy", "load"), ("np", "load")}:
            guard = _keyword(node, "allow_pickle")
            if isinstance(guard, ast.Constant) and guard.value is True:
                found.append(f"{where}:{node.lineno}: numpy.load with allow_pickle=True")
        elif tail in UNSAFE_CALLS and (where, ".".join(tail)) not in ALLOWED:
            found.append(f"{where}:{node.lineno}: calls {'.'.join(tail)}")
    return found


def test_the_package_never_deserialises_code() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 100, f"found only {len(files)} source files under {PACKAGE}"
    found = [p for f in files for p in problems(f.read_text(), str(f.relative_to(PACKAGE)))]
    assert found == [], "unsafe loading:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import pickle\n", "imports pickle"),
        ("from joblib import load\n", "imports joblib"),
        ("import torch\ntorch.load('m.pt')\n", "torch.load without weights_only=True"),
        ("import torch\ntorch.load('m.pt', weights_only=False)\n", "without weights_only"),
        ("import numpy as np\nnp.load('a.npy', allow_pickle=True)\n", "allow_pickle=True"),
        ("from stable_baselines3 import PPO\nPPO.load('policy.zip')\n", "calls PPO.load"),
    ],
)
def test_the_check_finds_each_kind(source: str, expected: str) -> None:
    assert any(expected in p for p in problems(source, "x.py"))


def test_the_guarded_forms_pass() -> None:
    safe = "import torch\nimport numpy as np\ntorch.load('m.pt', weights_only=True)\nnp.load('a')\n"
    assert problems(safe, "x.py") == []
