"""The generic API on a synthetic multivariate series: learns, is deterministic, saves, refuses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.domain.errors import ArtifactIntegrityError, DataError
from quantum_trader.models.forecasting import artifact
from quantum_trader.models.forecasting.api import Forecaster
from quantum_trader.models.forecasting.serving import OnnxForecaster
from quantum_trader.models.forecasting.windows import window_pairs

from .conftest import HORIZON, INPUT, sine_series, tiny


def holdout_mae(predict: object, series: np.ndarray) -> tuple[float, float, float]:
    """MAE of the model, of last-value naive and of seasonal naive (period 24) on fresh data."""
    pairs = window_pairs(series, INPUT, HORIZON, stride=7)
    model = np.stack([predict(x) for x in pairs.x])  # type: ignore[operator]
    naive = np.repeat(pairs.x[:, -1:, :], HORIZON, axis=1)
    seasonal = pairs.x[:, INPUT - 24 : INPUT - 24 + HORIZON, :]
    err = lambda f: float(np.abs(f - pairs.y).mean())  # noqa: E731
    return err(model), err(naive), err(seasonal)


def test_beats_naive_baselines_on_unseen_multivariate_series(
    trained: tuple[Forecaster, Path, str],
) -> None:
    model, _, _ = trained
    fresh = sine_series(rows=600, seed=99)
    mae, naive, seasonal = holdout_mae(model.predict, fresh)
    assert mae < 0.6 * naive, (mae, naive)
    assert mae < 1.2 * seasonal, (mae, seasonal)
    assert model.result is not None and model.result.epochs_run >= 1


def test_point_forecast_is_the_median_level() -> None:
    model = tiny("nhits", quantiles=(0.1, 0.5, 0.9), epochs=1)
    q = model.predict_quantiles(sine_series(100))
    assert q.shape == (HORIZON, 2, 3)
    assert np.array_equal(model.predict(sine_series(100)), q[..., 1])


@pytest.mark.parametrize("architecture", ["nhits", "patchtst"])
def test_same_seed_same_weights_hash(architecture: str) -> None:
    series = sine_series(700)
    first, second, other = (tiny(architecture, epochs=2, seed=s) for s in (11, 11, 12))
    h1, h2, h3 = (m.fit(series).weights_hash for m in (first, second, other))
    assert h1 == h2 == first.weights_hash
    assert h1 != h3


def test_save_load_and_onnx_agree(
    trained: tuple[Forecaster, Path, str], record_property: object
) -> None:
    model, directory, digest = trained
    reloaded = Forecaster.load(directory, expected_hash=digest)
    served = OnnxForecaster(directory, expected_hash=digest)
    windows = window_pairs(sine_series(900, seed=5), INPUT, HORIZON, stride=13).x
    torch_out = model.predict_batch(windows)
    assert np.array_equal(reloaded.predict_batch(windows), torch_out)
    onnx_out = served.predict_batch(windows)
    single = served.predict_quantiles(windows[0])
    diff = float(np.abs(onnx_out - torch_out).max())
    print(f"{model.spec.architecture}: max |torch - onnx| = {diff:.3g}")
    record_property(f"{model.spec.architecture}_onnx_max_abs_diff", diff)  # type: ignore[operator]
    assert diff <= 1e-5
    assert np.abs(single - torch_out[0]).max() <= 1e-5


@pytest.mark.parametrize("name", artifact.ARTIFACT_FILES)
def test_tampered_artifact_is_refused(
    trained: tuple[Forecaster, Path, str], tmp_path: Path, name: str
) -> None:
    model, _, _ = trained
    copy = tmp_path / "artifact"
    model.save(copy)
    with (copy / name).open("ab") as handle:
        handle.write(b" ")
    with pytest.raises(ArtifactIntegrityError, match=name):
        Forecaster.load(copy)
    if name != artifact.WEIGHTS_FILE:  # the server reads config and ONNX only
        with pytest.raises(ArtifactIntegrityError, match=name):
            OnnxForecaster(copy)


def test_edited_manifest_and_wrong_expected_hash_are_refused(
    trained: tuple[Forecaster, Path, str], tmp_path: Path
) -> None:
    model, _, _ = trained
    copy = tmp_path / "artifact"
    model.save(copy)
    with pytest.raises(ArtifactIntegrityError, match="expected"):
        OnnxForecaster(copy, expected_hash="0" * 64)
    manifest = json.loads((copy / artifact.MANIFEST_FILE).read_text())
    manifest["files"][artifact.ONNX_FILE] = "f" * 64
    (copy / artifact.MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactIntegrityError, match="file table"):
        Forecaster.load(copy)


def test_nan_or_short_window_is_refused(trained: tuple[Forecaster, Path, str]) -> None:
    model, directory, _ = trained
    served = OnnxForecaster(directory)
    good = sine_series(INPUT)
    holed = good.copy()
    holed[-3, 1] = np.nan
    for predictor in (model, served):
        with pytest.raises(DataError, match="non-finite"):
            predictor.predict(holed)
        with pytest.raises(DataError, match="input_size=48"):
            predictor.predict(good[1:])
        with pytest.raises(DataError, match="channels"):
            predictor.predict(good[:, :1])
    # NaN older than the window is fine: only the last input_size rows are used
    older = np.vstack([np.full((5, 2), np.nan), good])
    assert np.isfinite(served.predict(older)).all()


def test_fit_refuses_wrong_channel_count() -> None:
    with pytest.raises(DataError, match="channels"):
        tiny("nhits", n_channels=3).fit(sine_series(300))
