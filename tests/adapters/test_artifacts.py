"""The content-addressed artifact store: a folder is only "present" when it still verifies."""

from __future__ import annotations

from pathlib import Path

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
