"""Content hashes of model artifacts: one file hasher and the two ways files are combined.

Kept here, below ``models/`` and ``adapters/``, so that a model's ``save``/``load`` and the
artifact store hash with the same code. The two combinations differ for a reason that cannot
change without invalidating what is stored: :func:`tree_hash` is the artifact store's address
(every file under a folder, recorded by the model registry), :func:`manifest_hash` is the
forecaster manifest's ``artifact_hash`` (its named files only). Both are pinned by tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

_BLOCK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """
    >>> sha256_bytes(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 (hex) of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_hash(file_hashes: Mapping[str, str]) -> str:
    """sha256 of the sorted ``name:sha256`` lines: independent of the order files were written.

    >>> manifest_hash({"b": "2", "a": "1"}) == manifest_hash({"a": "1", "b": "2"})
    True
    """
    lines = "\n".join(f"{name}:{file_hashes[name]}" for name in sorted(file_hashes))
    return sha256_bytes(lines.encode())


def tree_hash(directory: Path) -> str:
    """sha256 over the sorted (relative path, file sha256) pairs of every file under ``directory``."""
    digest = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    for path in files:
        digest.update(f"{path.relative_to(directory).as_posix()}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()
