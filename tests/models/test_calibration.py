"""Calibration of the members' probabilities, and the members' skill on a planted signal."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.errors import DataError
from quantum_trader.features.dataset import Dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.models.calibration import IDENTITY, VectorScaling, fit_vector_scaling
from quantum_trader.models.forecasting.candles import (
    CloseSeries,
    save_candle_member,
    train_candle_forecaster,
)
from quantum_trader.models.forecasting.member import ForecastMember
from quantum_trader.models.metrics import expected_calibration_error, log_loss
from quantum_trader.models.tabular import LgbmModel, TabularModel, XgbModel
from quantum_trader.models.tabular.training import train_tabular
from tests.models.conftest import FAST


def _overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True probabilities from random logits, labels drawn from them, and a model that reports
    the logits doubled (far too sure of itself)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.0, (n, 3))
    truth = softmax(logits, axis=1)
    y = np.array([rng.choice(3, p=p) for p in truth], dtype=np.float64)
    return softmax(2.0 * logits, axis=1), y


def test_vector_scaling_fitted_on_held_out_rows_lowers_ece_on_new_rows() -> None:
    fit_probs, fit_y = _overconfident(3000, seed=1)
    test_probs, test_y = _overconfident(5000, seed=2)
    scaling = fit_vector_scaling(fit_probs, fit_y)
    before = expected_calibration_error(test_y, test_probs)
    after = expected_calibration_error(test_y, scaling.apply(test_probs))
    assert before > 0.08  # the doubled logits are clearly miscalibrated …
    assert after < before / 3  # … and calibration removes most of it on rows it never saw
    assert log_loss(test_y, scaling.apply(test_probs)) < log_loss(test_y, test_probs) - 0.05
    # the right correction is to halve the logits: weights near 1/2
    assert np.allclose(scaling.weights, 0.5, atol=0.08)


def test_identity_changes_nothing_and_bad_parameters_are_refused() -> None:
    probs = softmax(np.random.default_rng(0).normal(size=(4, 3)), axis=1)
    assert IDENTITY.apply(probs) is probs
    assert VectorScaling.from_dict({}) is IDENTITY
    with pytest.raises(DataError, match="finite"):
        VectorScaling((1.0, float("nan"), 1.0))
    with pytest.raises(DataError, match="labels"):
        fit_vector_scaling(probs, np.zeros(3))


def test_a_trained_member_is_calibrated_on_its_held_out_rows_and_serves_it(
    btc_small: Dataset, tmp_path: Path
) -> None:
    model = train_tabular(XgbModel, btc_small, clock=SimulatedClock(0), params=FAST)
    meta = model.metadata
    assert meta.calibration and not model.calibration.is_identity
    for key in ("log_loss", "brier", "ece"):
        assert f"holdout_{key}" in meta.metrics and f"holdout_{key}_raw" in meta.metrics
    # fitted to minimise the held-out log-loss: it cannot be worse there than the raw one
    assert meta.metrics["holdout_log_loss"] <= meta.metrics["holdout_log_loss_raw"] + 1e-9
    rows = btc_small.x[:50]
    raw = model._predict_matrix(np.asarray(rows, dtype=np.float64))
    served = model.predict_proba(rows)
    assert not np.allclose(raw, served)
    np.testing.assert_allclose(served, model.calibration.apply(raw))
    model.save(tmp_path)
    loaded = XgbModel.load(tmp_path)
    assert loaded.calibration == model.calibration
    np.testing.assert_allclose(loaded.predict_proba(rows), served, atol=1e-6)
    np.testing.assert_allclose(loaded.predict_row(rows[3]), served[3], atol=1e-6)


def _planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Six features; the outcome is UP when feature 0 plus noise is high, DOWN when low."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    score = x[:, 0] + 0.5 * rng.normal(size=n)
    y = np.where(score > 0.6, 2.0, np.where(score < -0.6, 0.0, 1.0))
    return x, y


#: how much lower than the class prior's each member's out-of-sample log-loss must be (nats);
#: the planted signal allows ~0.5, a member fitted on shuffled labels gets none of it
SKILL_MARGIN = 0.15


@pytest.mark.parametrize("cls", [XgbModel, LgbmModel])
def test_each_tabular_member_beats_the_class_prior_on_a_planted_signal(
    cls: type[TabularModel],
) -> None:
    x, y = _planted(4000, seed=3)
    model = cls(scope="SYN", horizon=4, features=tuple(f"f{i}" for i in range(6)), params=FAST)
    model.fit(x[:3000], y[:3000])
    prior = np.bincount(y[:3000].astype(np.int64), minlength=3) / 3000
    test_y = y[3000:]
    prior_loss = log_loss(test_y, np.tile(prior, (len(test_y), 1)))
    model_loss = log_loss(test_y, model.predict_proba(x[3000:]))
    assert model_loss < prior_loss - SKILL_MARGIN, (model_loss, prior_loss)


def test_a_forecaster_is_calibrated_on_the_tail_of_its_series(
    data_dir: Path, tmp_path: Path
) -> None:
    candles = CandleStore(data_dir).series("BTCUSDT", "1h")
    series = CloseSeries.from_candles(candles.slice(len(candles) - 2000, len(candles)))
    labels = LabelSpec(horizon=4)
    model, meta = train_candle_forecaster(
        "nhits", [series], labels, epochs=1, seed=0, progress=False
    )
    assert meta.calibration
    assert meta.metrics["holdout_log_loss"] <= meta.metrics["holdout_log_loss_raw"] + 1e-9
    save_candle_member(model, meta, tmp_path)
    member = ForecastMember.load(tmp_path, labels)
    uncalibrated = ForecastMember(
        member.model, dataclasses.replace(member.metadata, calibration={}), labels
    )
    windows = np.stack([series.close[i - 168 : i] for i in (500, 900, 1700)])
    served, raw = member.predict_proba(windows), uncalibrated.predict_proba(windows)
    assert not np.allclose(served, raw)
    np.testing.assert_allclose(served, VectorScaling.from_dict(meta.calibration).apply(raw))
    vote = member.vote("BTCUSDT", windows[1])  # the live path serves the same numbers
    np.testing.assert_allclose((vote.p_down, vote.p_flat, vote.p_up), served[1], atol=1e-12)


def test_applying_a_calibration_gives_scipys_log_softmax_floats_bit_for_bit() -> None:
    """``apply`` computes scipy's ``log_softmax`` itself (without its dispatch): the same
    floats for one row and for a matrix, over ordinary and saturating logits and exact zeros."""
    from scipy.special import log_softmax

    rng = np.random.default_rng(18)
    for scaling in (
        VectorScaling((1.3, 0.7, 2.1), (-0.2, 0.4, 0.05)),
        VectorScaling((60.0, 1.0, 0.5), (-300.0, 0.0, 700.0)),  # saturating
    ):
        for rows in (None, 1, 257):
            probs = rng.dirichlet((0.3, 1.0, 3.0), size=rows)
            probs[..., 0] = np.where(rng.random(probs.shape[:-1]) < 0.1, 0.0, probs[..., 0])
            logits = np.log(np.clip(probs, 1e-9, 1.0)) * np.asarray(scaling.weights)
            expected = np.exp(log_softmax(logits + np.asarray(scaling.bias), axis=-1))
            assert np.array_equal(scaling.apply(probs), expected)
