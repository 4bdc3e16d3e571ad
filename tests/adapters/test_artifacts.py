"""The content-addressed artifact store: a folder is only "present" when it still verifies."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from quantum_trader.adapters.artifacts import ArtifactCheck, LocalArtifactStore


def _write(directory: Path) -> None:
    (directory / "model.bin").write_bytes(bytes(range(256)) * 4)
    (directory / "metadata.json").write_text('{"model": "xgb"}')


def test_check_tells_ok_tampered_and_missing(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    digest = store.put(_write)
    assert store.check(digest) is ArtifactCheck.OK
    (store.path(digest) / "model.bin").write_bytes(b"\x00" + bytes(range(1, 256)) * 4)
    assert store.check(digest) is ArtifactCheck.TAMPERED
    assert store.check("0" * 64) is ArtifactCheck.MISSING


def test_storing_the_same_content_again_heals_a_tampered_folder(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    digest = store.put(_write)
    blob = store.path(digest) / "model.bin"
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF  # one flipped byte
    blob.write_bytes(bytes(data))
    (store.path(digest) / "extra.txt").write_text("planted")
    assert store.check(digest) is ArtifactCheck.TAMPERED

    assert store.put(_write) == digest
    assert store.check(digest) is ArtifactCheck.OK
    assert store.open(digest) == store.path(digest)
    assert sorted(p.name for p in store.path(digest).iterdir()) == ["metadata.json", "model.bin"]
    assert not list(tmp_path.glob(".incoming-*"))  # the spoiled folder is gone, too


def test_storing_again_refills_a_missing_folder_and_leaves_an_intact_one(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    digest = store.put(_write)
    inode = (store.path(digest) / "model.bin").stat().st_ino
    assert store.put(_write) == digest  # intact: kept as it is
    assert (store.path(digest) / "model.bin").stat().st_ino == inode
    for f in store.path(digest).iterdir():
        f.unlink()
    store.path(digest).rmdir()
    assert store.check(digest) is ArtifactCheck.MISSING
    store.put(_write)
    assert store.check(digest) is ArtifactCheck.OK


def _age(folder: Path, seconds: float) -> None:
    """Set the folder's modification time ``seconds`` into the past."""
    then = time.time() - seconds
    os.utime(folder, (then, then))


def test_storing_content_already_there_touches_its_folder(tmp_path: Path) -> None:
    """What keeps a training's output through a run's own prune (``remove``'s cutoff)."""
    store = LocalArtifactStore(tmp_path)
    digest = store.put(_write)
    _age(store.path(digest), 3600)
    before = time.time()
    assert store.put(_write) == digest
    assert store.path(digest).stat().st_mtime >= before - 0.01


def test_a_remove_keeps_a_folder_stored_or_touched_after_its_cutoff(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    digest = store.put(_write)
    cutoff = time.time() - 60
    assert not store.remove(digest, keep_if_touched_after=cutoff)  # stored after it: stays
    assert store.check(digest) is ArtifactCheck.OK
    _age(store.path(digest), 3600)
    assert store.remove(digest, keep_if_touched_after=cutoff)  # older than it: goes
    assert store.check(digest) is ArtifactCheck.MISSING
    assert not list(tmp_path.glob(".incoming-*"))


def test_a_write_between_the_removes_look_and_its_rename_keeps_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process stores the same content just as a prune takes the folder: the touch
    shows after the rename, and the folder is put back, intact."""
    store = LocalArtifactStore(tmp_path)
    digest = store.put(_write)
    _age(store.path(digest), 3600)
    move_aside = store._move_aside

    def touched_first(folder: Path, prefix: str) -> Path:
        os.utime(folder)  # the other process's write touches it now
        return move_aside(folder, prefix)

    monkeypatch.setattr(store, "_move_aside", touched_first)
    assert not store.remove(digest, keep_if_touched_after=time.time() - 60)
    assert store.check(digest) is ArtifactCheck.OK
    assert not list(tmp_path.glob(".incoming-*"))


def test_a_write_that_finds_the_folder_put_back_meanwhile_stores_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write checks while a prune has the folder aside (missing), and the prune puts it back
    before the write renames its own copy into place: the write keeps the one there."""
    store = LocalArtifactStore(tmp_path)
    digest = store.put(_write)
    check = store.check
    answers = iter([ArtifactCheck.MISSING])
    monkeypatch.setattr(store, "check", lambda d: next(answers, None) or check(d))
    assert store.put(_write) == digest
    assert store.check(digest) is ArtifactCheck.OK
    assert not list(tmp_path.glob(".incoming-*"))
