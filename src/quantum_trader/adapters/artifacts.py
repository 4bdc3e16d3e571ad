"""Content-hashed local artifact store.

An artifact is a directory of files written by a model's ``save``. Its address is the sha256 of
a manifest (each file's relative path and sha256, sorted; :func:`.digests.tree_hash` in
``domain``), so the same content always lands at the same place and any change to any file
changes the address. ``open`` recomputes the hash and raises
:class:`ArtifactIntegrityError` on a mismatch or a missing artifact: a tampered model never loads.
Writes go to a temporary folder first and are renamed into place (atomic on one filesystem).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from quantum_trader.domain.digests import tree_hash
from quantum_trader.domain.errors import ArtifactIntegrityError


class LocalArtifactStore:
    """Artifacts under ``root/<sha256>/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, write: Callable[[Path], object]) -> str:
        """Let ``write`` fill a fresh folder, then store it under its content hash; return it."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.root))
        try:
            write(tmp)
            digest = tree_hash(tmp)
            final = self.root / digest
            if final.exists():
                shutil.rmtree(tmp)  # same content already stored
            else:
                tmp.rename(final)
            return digest
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def sweep_incoming(self) -> int:
        """Remove the temporary folders of writes a crash interrupted (``.incoming-*``); only
        safe while nobody writes here (the engine lock's holder calls it). Returns how many."""
        if not self.root.is_dir():
            return 0
        leftovers = [p for p in self.root.glob(".incoming-*") if p.is_dir()]
        for folder in leftovers:
            shutil.rmtree(folder, ignore_errors=True)
        return len(leftovers)

    def path(self, digest: str) -> Path:
        return self.root / digest

    def exists(self, digest: str) -> bool:
        return (self.root / digest).is_dir()

    def open(self, digest: str) -> Path:
        """The artifact's folder, after checking that its content still hashes to ``digest``."""
        folder = self.root / digest
        if not folder.is_dir():
            raise ArtifactIntegrityError(f"artifact {digest[:16]}… is missing from {self.root}")
        actual = tree_hash(folder)
        if actual != digest:
            raise ArtifactIntegrityError(
                f"artifact {digest[:16]}… in {self.root} was altered: its content now hashes to "
                f"{actual[:16]}…; refusing to load it"
            )
        return folder
