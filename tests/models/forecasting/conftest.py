"""Tiny forecasters and a synthetic multivariate series shared by the forecasting tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from quantum_trader.models.forecasting.api import Forecaster
from quantum_trader.models.forecasting.training import TrainingConfig

INPUT, HORIZON = 48, 8


def tiny_training(epochs: int = 3, seed: int = 3) -> TrainingConfig:
    return TrainingConfig(
        max_epochs=epochs,
        batch_size=64,
        learning_rate=3e-3,
        patience=5,
        seed=seed,
        progress=False,
    )


def tiny(
    architecture: str, n_channels: int = 2, epochs: int = 3, seed: int = 3, **kw: object
) -> Forecaster:
    training = tiny_training(epochs, seed)
    if architecture == "nhits":
        return Forecaster.nhits(
            INPUT,
            HORIZON,
            n_channels=n_channels,
            training=training,
            hidden_size=32,
            **kw,  # type: ignore[arg-type]
        )
    return Forecaster.patchtst(
        INPUT,
        HORIZON,
        n_channels=n_channels,
        training=training,
        d_model=16,
        n_heads=2,
        n_layers=1,
        d_ff=32,
        dropout=0.1,
        **kw,  # type: ignore[arg-type]
    )


def sine_series(rows: int = 1200, seed: int = 0) -> npt.NDArray[np.float64]:
    """Two channels: periods 24 and 12 on different levels and scales, with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows, dtype=np.float64)
    a = 10.0 + 2.0 * np.sin(2 * np.pi * t / 24) + 0.2 * rng.standard_normal(rows)
    b = -3.0 + 0.5 * np.cos(2 * np.pi * t / 12) + 0.05 * rng.standard_normal(rows)
    return np.stack([a, b], axis=1)


@pytest.fixture(scope="module", params=["nhits", "patchtst"])
def trained(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Forecaster, Path, str]:
    """Each architecture trained once on the sine series and saved."""
    model = tiny(request.param)
    model.fit(sine_series())
    directory = tmp_path_factory.mktemp(request.param)
    digest = model.save(directory)
    return model, directory, digest
