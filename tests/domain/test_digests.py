"""The artifact hashes are pinned: stored artifacts and registry addresses must keep verifying.

The expected values were computed with the hashers as they stood before they moved into
``domain/digests.py`` (``adapters/artifacts.tree_hash``, ``models/forecasting/artifact``).
"""

from __future__ import annotations

from pathlib import Path

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.domain.digests import manifest_hash, sha256_file, tree_hash


def _artifact(directory: Path) -> None:
    (directory / "sub").mkdir()
    (directory / "model.onnx").write_bytes(b"onnx bytes")
    (directory / "sub" / "metadata.json").write_text('{"a": 1}')


def test_hashes_match_the_values_recorded_before_the_move(tmp_path: Path) -> None:
    _artifact(tmp_path)
    file_hash = sha256_file(tmp_path / "model.onnx")
    assert file_hash == "c1650a9961b22b18b7919016db749eb46e2f14ad9da48dd02aa586fe8a335978"
    assert tree_hash(tmp_path) == (
        "151b98b260b739792cf224df21ae9d6c6a264d0ad5bb6471d1c131ac0fa91e5d"
    )
    assert manifest_hash({"model.onnx": file_hash, "config.json": "ab"}) == (
        "f578218a8312b982a81d4661f426bd11847dceda45aa00e2f66fd7aa8dd5c8f4"
    )


def test_the_store_address_is_the_tree_hash(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    digest = store.put(_artifact)
    assert digest == "151b98b260b739792cf224df21ae9d6c6a264d0ad5bb6471d1c131ac0fa91e5d"
    assert store.open(digest) == tmp_path / "store" / digest
