"""Content-hashed local artifact store.

An artifact is a directory of files written by a model's ``save``. Its address is the sha256 of
a manifest (each file's relative path and sha256, sorted; :func:`.digests.tree_hash` in
``domain``), so the same content always lands at the same place and any change to any file
changes the address. ``open`` recomputes the hash and raises
:class:`ArtifactIntegrityError` on a mismatch or a missing artifact: a tampered model never loads.
Writes go to a temporary folder first and are renamed into place (atomic on one filesystem).
A write whose address is already taken by a folder that no longer hashes to it (tampered,
half-deleted) replaces that folder: storing the same model again heals the store. A write whose
content is already stored intact touches that folder (its modification time), so that a run's
own prune, which may remove it while a training is in flight, leaves what a training has just
stored (``remove(..., keep_if_touched_after=)``; docs/learning.md, "Artifact retention").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from quantum_trader.domain.digests import tree_hash
from quantum_trader.domain.errors import ArtifactIntegrityError


class ArtifactCheck(StrEnum):
    """What a stored artifact's folder says about its address."""

    OK = "OK"  # present, and its content hashes to its address
    TAMPERED = "TAMPERED"  # present, but its content hashes to something else
    MISSING = "MISSING"  # no folder at its address


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
            self._touch(final)  # before the check: a prune that comes between sees it
            check = self.check(digest)
            if check is ArtifactCheck.OK:
                shutil.rmtree(tmp)  # same content already stored, intact
            elif check is ArtifactCheck.TAMPERED:
                self._replace(final, tmp)
            else:
                try:
                    tmp.rename(final)
                except OSError:  # a prune put the same content back meanwhile (remove)
                    if self.check(digest) is not ArtifactCheck.OK:
                        raise
                    shutil.rmtree(tmp)
            return digest
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @staticmethod
    def _touch(folder: Path) -> None:
        # not stored (or just removed): the check then finds it missing and writes it
        with contextlib.suppress(FileNotFoundError):
            os.utime(folder)

    def _replace(self, final: Path, fresh: Path) -> None:
        """Put ``fresh`` where a folder that no longer verifies stands. Two renames, each
        atomic: a reader sees the altered folder, then (for an instant) none, then the intact
        one, never a half-written one. A crash between them leaves both under ``.incoming-*``
        (swept at the next start) and the address missing, which the next ``put`` fills."""
        spoiled = self._move_aside(final, ".incoming-replaced-")
        fresh.rename(final)
        shutil.rmtree(spoiled, ignore_errors=True)

    def _move_aside(self, folder: Path, prefix: str) -> Path:
        """Rename ``folder`` into a fresh ``.incoming-*`` folder (swept at the next start if a
        crash leaves it) and return that folder, for the caller to delete."""
        aside = Path(tempfile.mkdtemp(prefix=prefix, dir=self.root))
        folder.rename(aside / "old")
        return aside

    def check(self, digest: str) -> ArtifactCheck:
        """Whether the artifact at ``digest`` is there and still hashes to it."""
        folder = self.root / digest
        if not folder.is_dir():
            return ArtifactCheck.MISSING
        return ArtifactCheck.OK if tree_hash(folder) == digest else ArtifactCheck.TAMPERED

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

    def size(self, digest: str) -> int:
        """Bytes of the artifact's files (0 when it is not stored)."""
        folder = self.root / digest
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

    def remove(self, digest: str, *, keep_if_touched_after: float | None = None) -> bool:
        """Delete the artifact at ``digest``; False when it was not stored, or, with
        ``keep_if_touched_after`` (wall time, seconds), when a write stored or touched it after
        then (it stays). One rename takes it out of reach at once: a crash while deleting
        leaves an ``.incoming-*`` folder that the next start sweeps, never a half-deleted
        artifact at its address.

        A write of the same content in another process touches the folder before it checks
        for it. So the time is read again after the rename: a touch before the rename shows
        there (the folder is put back, or dropped if the write has stored it again meanwhile),
        and a write after it finds the address empty and stores the folder anew."""
        folder = self.root / digest
        if not folder.is_dir() or self._touched(folder, keep_if_touched_after):
            return False
        aside = self._move_aside(folder, ".incoming-removed-")
        touched = self._touched(aside / "old", keep_if_touched_after)
        if touched:
            # back in place; if the write has stored it anew meanwhile, that copy stays
            with contextlib.suppress(OSError):
                (aside / "old").rename(folder)
        shutil.rmtree(aside, ignore_errors=True)
        return not touched

    @staticmethod
    def _touched(folder: Path, after: float | None) -> bool:
        return after is not None and folder.stat().st_mtime >= after

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
