"""Contract of the tabular members: protocol, native artifacts, hash check, fast path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.errors import ArtifactIntegrityError, DataError
from quantum_trader.features.dataset import Dataset
from quantum_trader.models.base import DirectionModel, ModelMetadata
from quantum_trader.models.tabular import LgbmModel, TabularModel, XgbModel
from quantum_trader.models.tabular.training import train_tabular
from quantum_trader.status.registry import StatusRegistry
from tests.models.conftest import FAST


@pytest.mark.parametrize("cls", [XgbModel, LgbmModel])
def test_train_save_load_roundtrip(
    cls: type[TabularModel], btc_small: Dataset, tmp_path: Path
) -> None:
    name = cls.name
    clock = SimulatedClock(1_000)
    handle = StatusRegistry(clock).register(name, enabled=True, reason="test")
    model = train_tabular(cls, btc_small, clock=clock, params=FAST, handle=handle)
    assert isinstance(model, DirectionModel)
    probs = model.predict_proba(btc_small.x[:50])
    assert probs.shape == (50, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(model.predict_row(btc_small.x[7]), probs[7], rtol=1e-6)
    meta = model.metadata
    # the rows fitted on: the last ``horizon`` rows have no label yet
    labelled = btc_small.open_time[~np.isnan(btc_small.y)]
    assert meta.training_window == (int(labelled[0]), int(labelled[-1]))
    assert labelled[-1] < btc_small.open_time[-1]
    assert meta.data_hash == btc_small.content_hash() and meta.trained_at == 1_000
    assert meta.features == btc_small.names and meta.hyperparameters["num_boost_round"] == 15
    assert 0 < meta.metrics["train_accuracy"] <= 1

    digest = model.save(tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    serving = ["model.onnx"] if name == "xgb" else []  # XGBoost serves rows through ONNX
    assert files == sorted(["metadata.json", type(model).model_file, *serving])
    head = (tmp_path / type(model).model_file).read_bytes()[:16]
    assert not head.startswith(b"\x80")  # not a pickle stream
    loaded = type(model).load(tmp_path)
    assert loaded.metadata == model.metadata and loaded.metadata.artifact_hash == digest
    np.testing.assert_array_equal(loaded.predict_proba(btc_small.x[:50]), probs)
    assert handle.status.counters["trainings"] == 1
    assert handle.status.counters["artifacts_written"] == 1
    assert handle.status.counters["predictions"] >= 51


@pytest.mark.parametrize("cls", [XgbModel, LgbmModel])
def test_tampered_model_file_is_refused(
    cls: type[TabularModel], btc_small: Dataset, tmp_path: Path
) -> None:
    model = cls(scope="BTCUSDT", horizon=4, features=btc_small.names, params=FAST)
    model.fit(btc_small.x, btc_small.y)
    model.save(tmp_path)
    path = tmp_path / cls.model_file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="altered or corrupted"):
        cls.load(tmp_path)
    path.unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        cls.load(tmp_path)


def test_wrong_width_and_untrained_fail_loudly(btc_small: Dataset) -> None:
    model = XgbModel(scope="BTCUSDT", horizon=4, features=btc_small.names, params=FAST)
    with pytest.raises(RuntimeError, match="not trained"):
        model.predict_proba(btc_small.x[:2])
    with pytest.raises(DataError, match="shape"):
        model.fit(btc_small.x[:, :5], btc_small.y)
    with pytest.raises(DataError, match="labels"):
        model.fit(btc_small.x, btc_small.y + 5)


def test_metadata_json_roundtrip() -> None:
    meta = ModelMetadata(
        "lgbm", "1", "global", 4, ("a", "b"), {"x": 1}, (1, 2), "h", {"acc": 0.5}, "sha"
    )
    assert ModelMetadata.from_json(meta.to_json()) == meta


def test_xgb_onnx_serving_matches_native_and_is_hash_checked(
    btc_small: Dataset, tmp_path: Path
) -> None:
    model = train_tabular(XgbModel, btc_small, clock=SimulatedClock(0), params=FAST)
    rows = btc_small.x[:200]
    # the booster's own probabilities, through the member's calibration as served ones are
    native = model.calibration.apply(model._predict_matrix(np.asarray(rows, dtype=np.float64)))
    served = np.array([model.predict_row(r) for r in rows])
    assert np.abs(native - served).max() <= 1e-5
    model.save(tmp_path)
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ArtifactIntegrityError, match=r"model\.onnx has sha256"):
        type(model).load(tmp_path)


SERVING_SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from quantum_trader.models.tabular import LgbmModel, XgbModel
lgbm = LgbmModel.load(Path(sys.argv[1]))
xgb = XgbModel.load(Path(sys.argv[2]))
row = np.asarray(json.loads(sys.argv[3]))
served = {"lgbm": lgbm.predict_row(row).tolist(), "xgb": xgb.predict_row(row).tolist()}
heavy = {m: m in sys.modules for m in ("sklearn", "xgboost", "torch")}
import sklearn.base  # imported later (as training does), it still works
print(json.dumps({"heavy": heavy, "served": served}))
"""


def test_serving_tree_members_imports_no_sklearn_xgboost_or_torch(
    btc_small: Dataset, tmp_path: Path
) -> None:
    """The serving process's memory budget: tree members load without the training stack."""
    import json
    import os
    import subprocess
    import sys

    saved = {}
    for cls in (LgbmModel, XgbModel):
        model = cls(scope="BTCUSDT", horizon=4, features=btc_small.names, params=FAST)
        model.fit(btc_small.x, btc_small.y)
        model.save(tmp_path / cls.name)
        saved[cls.name] = model
    row = btc_small.x[3]
    src = Path(__file__).resolve().parents[2] / "src"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SERVING_SCRIPT,
            str(tmp_path / "lgbm"),
            str(tmp_path / "xgb"),
            json.dumps(row.tolist()),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(src)},
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == {"sklearn": False, "xgboost": False, "torch": False}
    for name, model in saved.items():
        np.testing.assert_allclose(result["served"][name], model.predict_row(row), rtol=1e-6)
